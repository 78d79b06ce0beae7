"""The task plug-in interface: what one sequence task supplies to the standard stages.

The stages (ExampleGen, Transform, Trainer, Evaluator, Pusher) own the artifacts, the MLflow
logging and the atomic writes; a task supplies the parts that differ between forecasting,
classification, labeling, generation and speech recognition. Each hook receives the stage's
``params`` (its slice of the config) and the artifacts it reads or fills in.
"""
from __future__ import annotations


class Task:
    """Base class of a task plug-in; subclasses implement every hook."""

    name = ""

    def example_gen(self, params: dict, examples, quarantine, ctx) -> dict:
        """Read raw data into ``examples`` (split TFRecords) and bad records into ``quarantine``."""
        raise NotImplementedError

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
