"""Sequence classification: one label per series from a labeled long CSV."""
from __future__ import annotations

from seqline.components.tasks.sequence.task import SequenceTask


class ClassifyTask(SequenceTask):
    """Series split (given, or held out per label), padded to ``max_length`` with a mask; the
    served model takes raw series and returns class probabilities and the label."""

    name = "classify"

    def server(self, graph, model, params):
        from seqline.components.tasks.sequence.export import ClassifyServer

        return ClassifyServer(graph, model, params.classes, params.steps, params.n_features)
