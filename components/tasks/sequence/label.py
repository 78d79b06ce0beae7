"""Sequence labeling: one label per time step of long series."""
from __future__ import annotations

from seqline.components.tasks.sequence.task import SequenceTask


class LabelTask(SequenceTask):
    """Time-ordered split, overlapping windows for training, per-step predictions stitched back
    (mean of the overlapping windows); the served model labels whole raw series."""

    name = "label"

    def server(self, graph, model, params):
        from seqline.components.tasks.sequence.export import LabelServer

        return LabelServer(graph, model, params.classes, params.steps, params.stride,
                           params.n_features)
