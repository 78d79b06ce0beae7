"""The classification tasks' transform as a TF SavedModel (the graph the served model embeds).

Same math as :func:`seqline.components.tasks.sequence.numerics.model_input`, in float64 so both paths agree.
Its function has no tensor-dependent Python control flow, so it skips AutoGraph's source
conversion (``autograph=False``).
"""
from __future__ import annotations

import tensorflow as tf

from seqline.components.tasks.missing_values import fill_missing_tf
from seqline.components.tasks.sequence.numerics import SequenceParams


class SequenceTransform(tf.Module):
    """``transform(series [B, steps, F], lengths [B])`` -> model input ``[B, steps, F + 1]``."""

    def __init__(self, p: SequenceParams):
        super().__init__()
        self.steps = p.steps
        self.center = tf.constant(p.center, tf.float64)
        self.scale = tf.constant(p.scale, tf.float64)
        series = tf.TensorSpec([None, p.steps, p.n_features], tf.float32, name="series")
        lengths = tf.TensorSpec([None], tf.int32, name="lengths")
        self.transform = tf.function(self._transform, input_signature=[series, lengths],
                                     autograph=False)

    def _transform(self, series, lengths):
        valid = tf.range(self.steps)[None, :] < lengths[:, None]
        nan = tf.constant(float("nan"), tf.float64)
        raw = tf.where(valid[:, :, None], tf.cast(series, tf.float64), nan)
        z = (fill_missing_tf(raw, self.steps) - self.center) / self.scale
        z = tf.where(tf.math.is_finite(z) & valid[:, :, None], z, tf.zeros_like(z))
        indicator = tf.cast(valid, tf.float64)[:, :, None]
        return tf.cast(tf.concat([z, indicator], axis=-1), tf.float32)


def save(p: SequenceParams, path: str) -> None:
    """Export the transform graph as a SavedModel with a ``transform`` signature."""
    module = SequenceTransform(p)
    tf.saved_model.save(module, path, signatures={"transform": module.transform})
