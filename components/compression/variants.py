"""Build, run and measure each variant of the catalog; one result row per variant.

A row: ``name``, ``target``, ``runtime``, ``status`` (``ok``, ``skipped`` with the reason,
``failed`` with the error), ``note``, ``metrics`` (the task's ``score`` on the test split, run by
the variant's own runtime), ``size_bytes`` / ``gzip_bytes`` / ``weights_bytes``, the latency
figures of :func:`seqline.components.compression.measure.latency`, ``ops`` (edge), ``path`` (inside the
output folder) and ``seconds`` (to build and measure it). A variant that cannot be built gives a
``skipped`` or ``failed`` row; it never stops the others.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

import numpy as np

from seqline.components.compression import measure, serving_variants, tflite_export
from seqline.components.compression.catalog import VARIANTS
from seqline.components.compression.runtimes import LiteRTRunner, SavedModelRunner
from seqline.components.tasks.base import evenly_spaced_rows
from seqline.pipeline import counters

TWIN_CHECK_ROWS = 64


class Skipped(Exception):
    """A variant that does not apply here (the reason is its message)."""


@dataclass
class EdgeSource:
    """What the LiteRT converter takes for one set of weights: the batch-1 ``tf_keras`` twin of a
    recurrent model (checked against the Keras 3 model, saved as a SavedModel: ``model`` is its
    path) or the Keras 3 model itself."""

    model: object
    kind: str
    float_ops: list | None = None


class VariantBuilder:
    """Builds the variants of one trained model into ``folder`` (``variants/<name>`` SavedModels,
    ``variants/<name>.tflite``); ``work`` holds temporary ``.keras`` files."""

    def __init__(self, task, inputs: dict, settings: dict, fine_tune: dict, folder: str, work: str,
                 echo=lambda line: None):
        self.task, self.settings, self.fine_tune = task, settings, fine_tune
        self.graph, self.transformed = inputs["transform_graph"], inputs["transformed_examples"]
        self.model_path = inputs["model"].path("model.keras")
        self.folder, self.work, self.echo = folder, work, echo
        test = task.compression_data(self.transformed, self.graph, "test")
        self.test = task.scored_rows(test, settings)
        if len(self.test.x) < len(test.x):
            echo(f"every variant is scored on {len(self.test.x):,} of the {len(test.x):,} test "
                 "rows, evenly spaced")
        self.train = task.compression_data(self.transformed, self.graph, "train")
        self.calibration = self.train.x[evenly_spaced_rows(len(self.train.x),
                                                           settings["calibration_samples"])]
        self.weights: dict = {}      # "trained" / "pruned" / "clustered" -> Keras 3 model or error
        self.sources: dict = {}      # same keys -> EdgeSource
        self.reports: dict = {"test_rows": {"scored": len(self.test.x), "of": len(test.x)}}
        # + "pruning", "clustering", "twin" as they are built
        self._pruned_twin = None     # (stripped tf_keras model, its Twin), for clustering
        self.label = ""              # the variant being built, for the progress display
        os.makedirs(os.path.join(folder, "variants"), exist_ok=True)

    # ---- one row ----------------------------------------------------------------------------

    def build(self, name: str, label: str = "") -> dict:
        """Build, run and measure variant ``name``; return its row. Each step is shown by the
        progress display after ``label`` (default: the name)."""
        self.label = label or name
        self._step("building")
        target, weights, mode, description = VARIANTS[name]
        row = {"name": name, "target": target, "description": description, "status": "ok",
               "runtime": "TensorFlow" if target == "gpu" else "LiteRT", "note": "", "metrics": {}}
        started = time.time()
        try:
            if target == "gpu":
                self._serving(row, mode)
            else:
                self._edge(row, weights, mode)
        except Skipped as exc:
            row.update(status="skipped", note=str(exc))
        except Exception as exc:   # one variant's failure is reported, the others still run
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            row.update(status="failed", note=f"{type(exc).__name__}: {first}")
        if row["status"] != "ok":   # no half-written file next to the good ones
            row.pop("path", None)
            for leftover in (self._path(name), self._path(name) + ".tflite"):
                if os.path.isdir(leftover):
                    shutil.rmtree(leftover)
                elif os.path.isfile(leftover):
                    os.remove(leftover)
        row["seconds"] = round(time.time() - started, 2)
        return row

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, "variants", name)

    def _step(self, what: str) -> None:
        counters.doing(f"{self.label}: {what}" if self.label else what)

    def _measure(self, row: dict, path: str, runner, inputs) -> None:
        self._step("measuring size and latency")
        row["path"] = os.path.relpath(path, self.folder)
        row["size_bytes"] = measure.disk_size(path)
        row["gzip_bytes"] = measure.gzip_size(path)
        row.update(measure.latency(*runner.batch_calls(inputs), runs=self.settings["latency_runs"]))

    def _serving(self, row: dict, mode: str) -> None:
        if mode == "float8":
            reason = serving_variants.fp8_unavailable()
            if reason:
                raise Skipped(reason)
        model, note = serving_variants.build(self.model_path, mode)
        keras_path = os.path.join(self.work, f"{row['name']}.keras")
        model.save(keras_path)
        path = self._path(row["name"])
        self._step("exporting the SavedModel")
        self.task.export(self.graph, keras_path, self.transformed, path)
        runner = SavedModelRunner(path)
        self._step(f"scoring {len(self.test.x):,} test rows")
        row["metrics"] = self.task.score(self.test, runner.predict(self.test.serving))
        self._measure(row, path, runner, self.test.serving)
        row["weights_bytes"] = measure.disk_size(os.path.join(path, "variables"))
        row["note"] = note

    def _edge(self, row: dict, weights: str, mode: str) -> None:
        if mode == "int8":   # the architecture decides: check before pruning or clustering
            blocker = tflite_export.full_integer_blocker(self._float_ops(self.source("trained")))
            if blocker:
                raise Skipped(blocker)
        source = self.source(weights)
        self._step("converting")
        flatbuffer = tflite_export.convert(source.model, mode, self.calibration)
        path = self._path(row["name"]) + ".tflite"
        with open(path, "wb") as fh:
            fh.write(flatbuffer)
        row["ops"] = tflite_export.op_names(flatbuffer)
        if mode == "float32":
            source.float_ops = row["ops"]
        runner = LiteRTRunner(path)
        self._step(f"scoring {len(self.test.x):,} test rows")
        outputs = self.task.from_model_space(self.test, runner.predict(self.test.x))
        row["metrics"] = self.task.score(self.test, outputs)
        self._measure(row, path, runner, self.test.x)
        row["weights_bytes"] = row["size_bytes"]
        row["tensors"] = runner.tensor_spec()
        row["source"] = source.kind
        notes = []
        if mode == "int8" and "DEQUANTIZE" in row["ops"]:
            notes.append("some ops stay float (QUANTIZE/DEQUANTIZE inside)")
        if weights != "trained":
            notes.append(self._weights_note(weights))
        row["note"] = "; ".join(notes)

    # ---- weights and converter sources ----------------------------------------------------

    def keras_model(self, weights: str):
        """The Keras 3 model with ``weights`` (built once; a failure is kept and raised again)."""
        if weights not in self.weights:
            try:
                self.weights[weights] = self._make_weights(weights)
            except Exception as exc:
                self.weights[weights] = exc
        found = self.weights[weights]
        if isinstance(found, Exception):
            raise found
        return found

    def _make_weights(self, weights: str):
        from seqline.components.compression import pruning
        from seqline.models import load_model

        if weights == "trained":
            return load_model(self.model_path)
        loss = self.task.compile_args(self.transformed)["loss"]
        if not isinstance(loss, str):
            raise Skipped("the task's loss is not a Keras loss name, which the tf_keras "
                          "fine-tune needs")
        cfg = self.settings["pruning"]
        tune = pruning.FineTune(self.train.x, self.train.y, loss, cfg["epochs"],
                                self.fine_tune["batch_size"], self.fine_tune["learning_rate"],
                                self.fine_tune["seed"])
        trained = self.keras_model("trained")
        if weights == "pruned":
            self.echo(f"pruning to {cfg['target_sparsity']:.0%} sparsity with {cfg['epochs']} "
                      "fine-tune epochs")
            self._step("pruning and fine-tuning the weights")
            model, stripped, twin, report = pruning.prune(trained, tune, cfg["target_sparsity"])
            self._pruned_twin = (stripped, twin)
            self.reports["pruning"] = report
            return model
        self.keras_model("pruned")
        self.echo(f"clustering the pruned weights into {cfg['clusters']} centroids")
        self._step("clustering the pruned weights")
        model, report = pruning.cluster(trained, *self._pruned_twin, tune, cfg["clusters"])
        self.reports["clustering"] = report
        return model

    def source(self, weights: str) -> EdgeSource:
        """The converter's input for ``weights``: the task's edge network if it has one, the
        checked batch-1 twin of a recurrent model, the Keras 3 model otherwise."""
        from seqline.components.compression.keras_twin import (check_rows, has_padding_mask,
                                                               is_recurrent, twin_of)

        if weights not in self.sources:
            model = self.keras_model(weights)
            network = self.task.edge_network(model)
            if network is not None:
                self.sources[weights] = EdgeSource(network, "the task's Keras 3 edge network "
                                                            "(batch 1, any length)")
            elif is_recurrent(model):
                unpadded = check_rows(model, self.test.x)
                rows = unpadded[:TWIN_CHECK_ROWS]
                twin, diff = twin_of(model, rows, batch_size=1)
                self.reports.setdefault("twin", {})[weights] = {
                    "max_abs_diff": diff, "rows_checked": len(rows),
                    "padding_mask_dropped": has_padding_mask(model)}
                saved = tflite_export.save_twin(twin.model, os.path.join(self.work, f"twin_{weights}"))
                self.sources[weights] = EdgeSource(saved, "tf_keras twin (batch 1)")
                self.echo(f"{weights} weights: the batch-1 tf_keras twin matches the Keras 3 "
                          f"model within {diff:.1e} on {len(rows)} test rows")
                if has_padding_mask(model) and weights == "trained":
                    padded = len(self.test.x) - len(unpadded)
                    self.echo(f"the edge model has no padding mask (TFLite's fused LSTM takes "
                              f"none): it reads all {self.test.x.shape[1]} steps; {padded} of "
                              f"{len(self.test.x)} test rows are padded and scored as they are")
            else:
                self.sources[weights] = EdgeSource(model, "Keras 3 model (batch 1)")
        return self.sources[weights]

    def _float_ops(self, source: EdgeSource) -> list:
        if source.float_ops is None:
            source.float_ops = tflite_export.op_names(tflite_export.convert(source.model, "float32"))
        return source.float_ops

    def _weights_note(self, weights: str) -> str:
        pruned = self.reports["pruning"]
        text = (f"kernel sparsity {pruned['sparsity']:.2f} after {pruned['fine_tune_steps']} "
                "fine-tune steps")
        if weights == "clustered":
            text += f", {self.reports['clustering']['clusters']} clusters per kernel"
        return text
