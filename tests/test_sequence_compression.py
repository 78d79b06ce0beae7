"""Compression of the classification tasks on slices of the real example data: an LSTM classifier
gets a full-integer edge model with the fused kernel, and every variant is scored the same way
whichever runtime runs it (the float .tflite and the float SavedModel agree exactly)."""
import json
import os

import numpy as np
import pytest

from seqline.components import compressor, evaluator, example_gen, pusher, trainer, transform
from seqline.components.compression.keras_twin import check_rows
from seqline.components.compression.runtimes import LiteRTRunner
from seqline.components.split_io import split_pattern
from seqline.components.tasks.sequence.data import load_arrays
from seqline.models import load_model
from seqline.pipeline import counters
from seqline.pipeline.component import Context
from tests.forecast_fixtures import run_executor
from tests.sequence_fixtures import (ECG, classify_config, label_config, motions_slice,
                                     read_rows, write_csv)

COMPRESSION = {"variants": ["tflite_int8"], "latency_runs": 10, "calibration_samples": 16}


def train_and_compress(tmp, cfg) -> dict:
    """ExampleGen -> Transform -> Trainer -> Evaluator -> Compressor executors; their outputs,
    the Compressor's lines, the Evaluator's work counts and the Compressor's progress steps."""
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    tf_out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    inputs = {"transformed_examples": tf_out["transformed_examples"],
              "transform_graph": tf_out["transform_graph"]}
    inputs["model"] = run_executor(trainer, cfg, inputs, str(tmp / "trainer"),
                                   Context(state_dir=str(tmp / "state")))["model"]
    counters.reset()
    inputs.update(run_executor(evaluator, cfg, inputs, str(tmp / "eval")))
    scored = counters.snapshot()
    lines, steps = [], []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(counters, "doing", steps.append)
        inputs.update(run_executor(compressor, cfg, inputs, str(tmp / "compress"),
                                   Context(echo=lines.append)))
    return {"inputs": inputs, "lines": lines, "scored": scored, "steps": steps}


def report_of(inputs) -> dict:
    with open(inputs["compression"].path("report.json")) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def motions(tmp_path_factory):
    """A 1-layer LSTM on 5 BasicMotions series per activity, one test series cut short (padded)."""
    tmp = tmp_path_factory.mktemp("motion_compress")
    train = motions_slice(tmp / "train.csv", "train", 5)
    header, rows = read_rows(motions_slice(tmp / "test_full.csv", "test", 3))
    first = rows[0][0]
    rows = [r for r in rows if r[0] != first or int(r[1]) < 60]   # 60 of 100 steps
    test = write_csv(tmp / "test.csv", header, rows)
    cfg = classify_config(tmp, {"path": train, "test_path": test},
                          model={"type": "lstm", "units": 8},
                          training={"epochs": 3, "batch_size": 8},
                          evaluation={"blessing": {"beat_baseline": False}},
                          compression=COMPRESSION)
    return tmp, cfg, train_and_compress(tmp, cfg)


def test_an_lstm_classifier_gets_a_fused_full_integer_edge_model(motions):
    _, _, run = motions
    report = report_of(run["inputs"])
    rows = {r["name"]: r for r in report["rows"]}
    int8 = rows["tflite_int8"]
    assert int8["status"] == "ok", int8["note"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in int8["ops"] and "WHILE" not in int8["ops"]
    assert int8["tensors"]["input"]["dtype"] == "int8"
    assert int8["tensors"]["input"]["shape"] == [1, 100, 7]          # 6 features + 'valid'
    assert set(int8["metrics"]) == {"accuracy", "macro_f1"}
    assert report["budget"] == {**report["budget"], "metric": "accuracy", "max_absolute_loss": 0.01}
    twin = report["twin"]["trained"]
    assert twin["padding_mask_dropped"] and twin["max_abs_diff"] <= 1e-5
    assert twin["rows_checked"] == 11                               # the padded series left out
    assert any("1 of 12 test rows are padded" in line for line in run["lines"])


def test_variants_are_scored_like_the_evaluator_and_the_edge_model_matches_unpadded_series(motions):
    """The float SavedModel (serving signature, padding mask) scores what the Evaluator scored;
    the float .tflite (no padding mask) gives the Keras model's probabilities on every series
    that needs no padding."""
    _, _, run = motions
    inputs = run["inputs"]
    rows = {r["name"]: r for r in report_of(inputs)["rows"]}
    evaluation = inputs["evaluation"].properties["metrics"]["model"]
    assert rows["float32"]["metrics"]["accuracy"] == pytest.approx(evaluation["accuracy"])
    assert rows["float32"]["metrics"]["macro_f1"] == pytest.approx(evaluation["macro_f1"])
    examples = inputs["transformed_examples"]
    x = load_arrays(split_pattern(examples.uri, "test"), examples.properties)["x"]
    model = load_model(inputs["model"].path("model.keras"))
    full = check_rows(model, x)
    assert len(full) == len(x) - 1
    edge = LiteRTRunner(inputs["compression"].path(rows["tflite_float32"]["path"]))
    np.testing.assert_allclose(edge.predict(full), model.predict(full, verbose=0), atol=1e-5)


def test_the_evaluator_counts_the_series_it_scores_and_the_compressor_says_each_variant_step(
        motions):
    _, _, run = motions
    assert run["scored"] == {"series scored": 12}                  # 3 test series per activity
    assert run["steps"][0] == "reading the test and train splits"
    assert run["steps"][-1] == "3 variants built: choosing one per target, writing the report"
    steps = [step.split(": ") for step in run["steps"][1:-1]]
    assert list(dict.fromkeys(variant for variant, _ in steps)) == [
        "variant 1 of 3, float32", "variant 2 of 3, tflite_float32", "variant 3 of 3, tflite_int8"]
    assert [what for variant, what in steps if variant.endswith("float32") and "tflite" not in
            variant] == ["building", "exporting the SavedModel", "scoring 12 test rows",
                         "measuring size and latency"]
    assert [what for variant, what in steps if variant.endswith("tflite_int8")] == [
        "building", "converting", "scoring 12 test rows", "measuring size and latency"]


def test_the_pusher_exports_the_edge_classifier_with_its_label_map(motions):
    tmp, cfg, run = motions
    inputs = run["inputs"]
    cfg = {**cfg, "pusher": {**cfg["pusher"], "serving_dir": str(tmp / "serving"),
                             "edge_dir": str(tmp / "edge")}}
    run_executor(pusher, cfg, inputs, str(tmp / "push"))
    chosen = inputs["compression"].properties["selection"]["edge"]["variant"]
    version = tmp / "edge" / cfg["name"] / "1"
    meta = json.load(open(version / "metadata.json"))
    assert meta["variant"] == chosen and os.path.getsize(version / "model.tflite") > 0
    assert sorted(meta["label_map"].values()) == ["Badminton", "Running", "Standing", "Walking"]
    assert meta["inputs"]["x"]["features"][-1] == "valid"
    assert "reset_all_variables" in meta["state"]


@pytest.fixture(scope="module")
def ecg(tmp_path_factory):
    """A 1-layer LSTM labeling the last 1,000 real ECG samples: the abnormal stretch (samples
    550..787 here) in train and test."""
    tmp = tmp_path_factory.mktemp("ecg_compress")
    header, rows = read_rows(ECG)
    path = write_csv(tmp / "ecg.csv", header, rows[-1000:])
    cfg = label_config(tmp, path, model={"type": "lstm", "units": 8},
                       training={"epochs": 2, "batch_size": 16},
                       data={"path": path, "feature_columns": ["data"], "label_column": "label",
                             "split": {"train": 0.7, "eval": 0.0, "test": 0.3}},
                       evaluation={"blessing": {"beat_baseline": False}},
                       compression={**COMPRESSION, "variants": []})
    return tmp, cfg, train_and_compress(tmp, cfg)


def test_labeling_variants_are_scored_per_step_like_the_evaluator(ecg):
    """The edge model's windows are stitched back as the serving signature stitches them; a
    one-way LSTM's step never sees the padding after it, so no mask is missed."""
    _, _, run = ecg
    inputs = run["inputs"]
    rows = {r["name"]: r for r in report_of(inputs)["rows"]}
    evaluation = inputs["evaluation"].properties["metrics"]["model"]
    assert rows["float32"]["metrics"]["macro_f1"] == pytest.approx(evaluation["macro_f1"])
    edge = rows["tflite_float32"]
    assert edge["status"] == "ok", edge["note"]
    assert edge["metrics"]["accuracy"] == pytest.approx(evaluation["accuracy"], abs=1 / 300)
    assert report_of(inputs)["budget"]["metric"] == "macro_f1"
    assert np.isfinite(edge["latency_p50_ms"])
    windows = inputs["transformed_examples"].properties["split_counts"]["test"]
    assert run["scored"] == {"windows scored": windows} and windows == 8   # 300 steps, stride 40
