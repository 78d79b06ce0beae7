"""What the two classification tasks share: padded, masked sequences in; class probabilities
out, for the whole sequence (``classify``) or for every step (``label``)."""
from __future__ import annotations

import json

import numpy as np

from seqline.components.split_io import split_pattern
from seqline.components.tasks.base import Task, train_eval_datasets


class SequenceTask(Task):
    """Labeled long CSV, train-split scaling and vocabulary, masked padding, softmax head,
    cross-entropy loss, accuracy/F1 next to the majority baseline, raw-series serving."""

    def example_gen(self, params, examples, quarantine, ctx):
        from seqline.components.tasks.sequence.example_gen import generate

        return generate(params, examples, quarantine, ctx)

    def statistics_view(self, examples):
        from functools import partial

        from seqline.components.tasks.statistics_views import sequence_view

        return partial(sequence_view, feature_columns=examples.properties["feature_columns"])

    def transform(self, params, examples, graph, transformed, ctx):
        from seqline.components.tasks.sequence.transform import run_transform

        return run_transform(params, examples, graph, transformed, ctx)

    def datasets(self, transformed, training):
        from seqline.components.tasks.sequence.data import make_dataset

        return train_eval_datasets(make_dataset, transformed, training)

    def build_model(self, model_cfg, transformed, name):
        from seqline.models import build_model

        props = transformed.properties
        return build_model(model_cfg, (props["steps"], props["n_features"] + 1), self.name,
                           props["n_classes"], name=name, masked=True)

    def compile_args(self, transformed):
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def evaluate(self, params, transformed, graph, model_path, evaluation, ctx):
        from seqline.components.tasks.sequence.evaluate import evaluate

        return evaluate(params, transformed, graph, model_path, evaluation, ctx)

    def server(self, graph, model, params):
        """The ``tf.Module`` whose ``serve`` function is exported."""
        raise NotImplementedError

    def export(self, graph, model_path, transformed, path):
        import tensorflow as tf

        from seqline.components import serving_export
        from seqline.components.tasks.sequence.numerics import SequenceParams
        from seqline.models import load_model

        with open(graph.path("params.json"), encoding="utf-8") as fh:
            p = SequenceParams(**json.load(fh))
        model = load_model(model_path)
        server = self.server(tf.saved_model.load(graph.path("graph")), model, p)
        per_step = transformed.properties["per_step"]
        steps = [-1, -1] if per_step else [-1]
        spec = {"inputs": {"series": {"dtype": "float32", "shape": [-1, -1, p.n_features],
                                      "columns": p.feature_columns},
                           "lengths": {"dtype": "int32", "shape": [-1]}},
                "outputs": {"probabilities": {"dtype": "float32",
                                              "shape": steps + [len(p.classes)],
                                              "classes": p.classes},
                            "labels" if per_step else "label": {"dtype": "string",
                                                                "shape": steps}},
                "steps": p.steps}
        serving_export.save(server, path, spec)
        return spec

    compression_module = "seqline.components.tasks.sequence.compression"

    def example_input(self, transformed):
        from seqline.components.tasks.sequence.data import make_dataset

        pattern = split_pattern(transformed.uri, "test")
        *_, raw = next(iter(make_dataset(pattern, transformed.properties, 1, with_raw=True)))
        length = int(raw["length"][0])
        return {"series": raw["series"].numpy()[:, :length],
                "lengths": np.array([length], np.int32)}
