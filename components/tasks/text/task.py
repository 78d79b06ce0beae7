"""Generation: a character-level language model trained on a text corpus."""
from __future__ import annotations

import json

from seqline.components.tasks.base import Task, train_eval_datasets


class GenerateTask(Task):
    """Text split by position, train-split character vocabulary, next-character softmax at every
    step, bits per character next to a unigram baseline, prompt-to-text serving signature."""

    name = "generate"
    loss_label = "cross-entropy (nats per character)"

    def example_gen(self, params, examples, quarantine, ctx):
        from seqline.components.tasks.text.example_gen import generate

        return generate(params, examples, quarantine, ctx)

    def statistics_view(self, examples):
        from seqline.components.tasks.statistics_views import text_view

        return text_view

    def transform(self, params, examples, graph, transformed, ctx):
        from seqline.components.tasks.text.transform import run_transform

        return run_transform(params, examples, graph, transformed, ctx)

    def datasets(self, transformed, training):
        from seqline.components.tasks.text.data import make_dataset

        return train_eval_datasets(make_dataset, transformed, training)

    def build_model(self, model_cfg, transformed, name):
        from seqline.models import build_language_model

        return build_language_model(model_cfg, transformed.properties["vocab_size"], name=name)

    def compile_args(self, transformed):
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def evaluate(self, params, transformed, graph, model_path, evaluation, ctx):
        from seqline.components.tasks.text.evaluate import evaluate

        return evaluate(params, transformed, graph, model_path, evaluation, ctx)

    def export(self, graph, model_path, transformed, path):
        import tensorflow as tf

        from seqline.components import serving_export
        from seqline.components.tasks.text.export import SIGNATURE_SPEC, GenerateServer, start_id
        from seqline.models import load_model

        with open(graph.path("params.json"), encoding="utf-8") as fh:
            fitted = json.load(fh)
        model = load_model(model_path)
        server = GenerateServer(tf.saved_model.load(graph.path("graph")), model, fitted["seq_len"],
                                start_id(fitted["vocab"]))
        server.serve = server.generate
        spec = {**SIGNATURE_SPEC, "seq_len": fitted["seq_len"], "vocab_size": len(fitted["vocab"]) + 1}
        serving_export.save(server, path, spec, extra_signatures={"score": server.score})
        return spec

    def example_input(self, transformed):
        import numpy as np

        return {"prompt": np.array(["The "], dtype=object), "length": np.array(20, np.int32),
                "temperature": np.array(0.8, np.float32), "top_k": np.array(0, np.int32),
                "seed": np.array(1, np.int64)}
