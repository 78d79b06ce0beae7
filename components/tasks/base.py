"""The task plug-in interface: what one sequence task supplies to the standard stages.

The stages (ExampleGen, Transform, Trainer, Evaluator, Pusher) own the artifacts, the MLflow
logging and the atomic writes; a task supplies the parts that differ between forecasting,
classification, labeling, generation and speech recognition. Each hook receives the stage's
``params`` (its slice of the config) and the artifacts it reads or fills in.

The Compressor (``components/compressor.py``) needs the hooks of the last section; a task that
has them names the module implementing them in ``compression_module``. Until then the Compressor
passes the float model through unchanged (and says so), so a new task works in the pipeline
before it compresses.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np


def evenly_spaced_rows(total: int, count: int) -> np.ndarray:
    """Indices of ``count`` rows spread over ``total`` rows, first and last included (all of them
    if there are no more than ``count``)."""
    if total <= count:
        return np.arange(total)
    return np.linspace(0, total - 1, count).round().astype(int)


@dataclass
class SplitArrays:
    """One split in memory, for the Compressor (see :meth:`Task.compression_data`).

    ``x``: model-space inputs ``[N, ...]`` (float32), exactly what the trained network takes (and
    what an edge model takes). ``y``: model-space targets ``[N, ...]``, what the task's loss
    compares the network's output with (used to fine-tune pruned models). ``serving``: the raw
    inputs of the exported SavedModel's ``serving_default`` signature, ``{input name: [N, ...]}``,
    row ``i`` being the same example as ``x[i]``. ``extra``: whatever else the task's
    ``from_model_space`` and ``score`` need (raw windows, labels, lengths...).
    """

    x: np.ndarray
    y: np.ndarray
    serving: dict
    extra: dict = field(default_factory=dict)


class Task:
    """Base class of a task plug-in; subclasses implement every hook."""

    name = ""
    loss_label = "loss"        # y-axis label of the training-curve plot

    def example_gen(self, params: dict, examples, quarantine, ctx) -> dict:
        """Read raw data into ``examples`` (split TFRecords) and bad records into ``quarantine``."""
        raise NotImplementedError

    def statistics_view(self, examples):
        """``None`` when the records hold ``feature/<name>`` values (what StatisticsGen reads),
        else a picklable function turning one serialized record into such an Example (see
        :mod:`seqline.components.tasks.statistics_views`)."""
        return None

    def transform(self, params: dict, examples, graph, transformed, ctx) -> dict:
        """Analyze the train split, write ``transformed`` examples and the ``graph`` SavedModel."""
        raise NotImplementedError

    def datasets(self, transformed, training: dict) -> tuple:
        """``(train, eval or None)`` tf.data datasets of ``(inputs, targets)`` batches."""
        raise NotImplementedError

    def build_model(self, model_cfg: dict, transformed, name: str):
        """An uncompiled Keras model for the transformed inputs."""
        raise NotImplementedError

    def compile_args(self, transformed) -> dict:
        """``loss`` and ``metrics`` for ``model.compile``."""
        raise NotImplementedError

    def evaluate(self, params: dict, transformed, graph, model_path: str, evaluation, ctx) -> tuple:
        """Score the test split next to baselines (and the champion); return
        ``(key metrics, blessed, reasons)`` and fill the ``evaluation`` folder."""
        raise NotImplementedError

    def export(self, graph, model_path: str, transformed, path: str) -> dict:
        """Write the serving SavedModel (raw input in, prediction out) to ``path``; return its
        input/output description for the model's metadata."""
        raise NotImplementedError

    def example_input(self, transformed):
        """One raw serving input (a NumPy array, or a dict of them by input name), used as the
        MLflow input example."""
        raise NotImplementedError

    # ---- Compression hooks (components/compressor.py) -------------------------------------------
    # To make a task compressible: write a module with the functions ``split_arrays``,
    # ``from_model_space``, ``score``, ``budget`` and ``edge_metadata`` (the hooks below, same
    # arguments; e.g. components/tasks/forecast/compression.py), name it in
    # ``compression_module``; give the task's config a section
    # ``"compression": compression_section({<budget keys>})`` in pipeline/task_configs.py and call
    # ``check_compression(cfg["compression"])`` from its check. The pruning fine-tune uses
    # ``compile_args(...)["loss"]``, which must then be a Keras loss name ("mse",
    # "sparse_categorical_crossentropy"). Edge models of recurrent networks are converted from a
    # tf_keras twin (components/compression/keras_twin.py: a chain of supported layers, one
    # input); other networks convert from the Keras 3 model. A module may also define
    # ``edge_network(model)``: the one-input Keras 3 network to convert instead (e.g. speech:
    # the frames of one clip, of any length).

    compression_module: str | None = None

    @property
    def supports_compression(self) -> bool:
        return self.compression_module is not None

    def _compression(self):
        return importlib.import_module(self.compression_module)

    def compression_data(self, transformed, graph, split: str) -> SplitArrays:
        """The split ``split`` (``train`` or ``test``) of ``transformed`` as :class:`SplitArrays`.

        The test split scores every variant; rows of the train split calibrate full-integer
        quantization and fine-tune pruned models. Forecast: ``x`` the scaled windows, ``y`` the
        scaled targets, ``serving`` ``{"window": raw windows}``, ``extra`` the raw targets.
        """
        return self._compression().split_arrays(transformed, graph, split)

    def scored_rows(self, data: SplitArrays, settings: dict) -> SplitArrays:
        """The test rows every variant is scored on: all of ``data`` unless the task's compression
        module narrows them (speech: at most ``compression.max_test_clips`` clips)."""
        narrow = getattr(self._compression(), "scored_rows", None)
        return narrow(data, settings) if narrow else data

    def from_model_space(self, data: SplitArrays, outputs: np.ndarray) -> dict:
        """The network's outputs for ``data.x`` (what an edge model returns) -> the outputs the
        serving signature returns for ``data.serving``, as ``{output name: array}``; e.g. forecast
        undoes the scaling (``{"forecast": values in original units}``), classification would
        return its probabilities (and labels)."""
        return self._compression().from_model_space(data, outputs)

    def score(self, data: SplitArrays, outputs: dict) -> dict:
        """The task's metrics (name -> float, in the task's own units) of ``outputs`` (as the
        serving signature returns them) against ``data``'s targets: the numbers the Evaluator
        reports, so a variant's score compares with the Evaluator's."""
        return self._compression().score(data, outputs)

    def compression_budget(self, budget: dict):
        """The task's ``compression.budget`` config section -> a
        :class:`seqline.components.compression.selection.Budget`: the primary metric (a key of
        ``score``'s result), whether higher is better, and the loss allowed against the float
        model, relative and/or absolute. Forecast: ``Budget("mae", higher_is_better=False,
        max_relative_loss=budget["max_relative_mae_increase"])``; classification would allow an
        absolute accuracy drop, speech recognition an absolute CER increase."""
        return self._compression().budget(budget)

    def edge_network(self, model):
        """The one-input Keras 3 network to convert for the edge in place of ``model`` (no twin),
        or ``None`` (the default: the twin of a recurrent model, else the model itself)."""
        make = getattr(self._compression(), "edge_network", None)
        return None if make is None else make(model)

    def edge_metadata(self, graph, transformed) -> dict:
        """What an app needs beside the ``.tflite`` network to use it, written to the edge
        ``metadata.json``: ``inputs`` (what each model input holds: columns/features, steps,
        units, sample rate), ``preprocessing`` (how to turn raw data into model space: fill
        rule, normalization statistics, feature extraction), ``outputs`` and ``postprocessing``
        (how to read the output: inverse scaling, decoding), and ``label_map`` (class index ->
        label, or ``None``). The Compressor adds the tensor shapes, dtypes and quantization, the
        variant and its metrics. Plain JSON types only."""
        return self._compression().edge_metadata(graph, transformed)


def train_eval_datasets(make_dataset, transformed, training: dict, **train_options) -> tuple:
    """``(train, eval or None)`` from a task's ``make_dataset(pattern, props, batch, ...)``:
    the train split shuffled (with ``train_options``), both kept in memory after the first epoch
    as ``training.cache_in_memory`` says (``auto``: when they fit, see
    :mod:`seqline.components.memory_cache`)."""
    from seqline.components.split_io import split_pattern

    from seqline.components.memory_cache import choose_cache

    props, batch = transformed.properties, training["batch_size"]
    counts = props["split_counts"]
    splits = ["train"] + (["eval"] if counts.get("eval", 0) > 0 else [])
    patterns = {split: split_pattern(transformed.uri, split) for split in splits}
    cache = choose_cache(training["cache_in_memory"],
                         {split: (patterns[split], counts.get(split, 0)) for split in splits})
    train = make_dataset(patterns["train"], props, batch, shuffle=True,
                         shuffle_buffer=training["shuffle_buffer"], seed=training["seed"],
                         cache=cache, **train_options)
    val = make_dataset(patterns["eval"], props, batch, cache=cache) if "eval" in patterns else None
    return train, val
