"""The forecasting transform as a TF SavedModel (the transform graph the served model embeds).

Same math as :mod:`components.tasks.forecast_math`, computed in float64 so both paths agree.
"""
from __future__ import annotations

import tensorflow as tf

from components.tasks.forecast_math import ForecastParams


def _prefix_extreme(idx: tf.Tensor, length: int, reverse: bool) -> tf.Tensor:
    """Running max (or, with ``reverse``, min from the right) along axis 1 by doubling shifts."""
    k = 1
    while k < length:
        if reverse:
            pad = tf.fill(tf.concat([tf.shape(idx)[:1], [k], tf.shape(idx)[2:]], 0), length)
            idx = tf.minimum(idx, tf.concat([idx[:, k:], pad], axis=1))
        else:
            pad = tf.fill(tf.concat([tf.shape(idx)[:1], [k], tf.shape(idx)[2:]], 0), -1)
            idx = tf.maximum(idx, tf.concat([pad, idx[:, :-k]], axis=1))
        k *= 2
    return idx


def fill_missing(x: tf.Tensor, length: int) -> tf.Tensor:
    """Forward-fill then back-fill NaNs along axis 1 of ``[B, L, F]``."""
    nan = tf.math.is_nan(x)
    steps = tf.broadcast_to(tf.range(length)[None, :, None], tf.shape(x))
    fwd = _prefix_extreme(tf.where(nan, -1, steps), length, reverse=False)
    bwd = _prefix_extreme(tf.where(nan, length, steps), length, reverse=True)
    pick = tf.where(fwd >= 0, fwd, tf.where(bwd < length, bwd, 0))
    out = tf.experimental.numpy.take_along_axis(x, pick, axis=1)
    return tf.where((fwd < 0) & (bwd >= length), tf.constant(float("nan"), x.dtype), out)


class ForecastTransform(tf.Module):
    """``transform(window)`` -> model input; ``inverse(prediction, window)`` -> original units."""

    def __init__(self, p: ForecastParams):
        super().__init__()
        self.lookback, self.horizon = p.lookback, p.horizon
        self.n_features, self.t = len(p.feature_columns), p.target_index
        self.any_log, self.target_log = p.any_log, p.log_returns[p.target_index]
        self.log_mask = tf.constant(p.log_returns, tf.bool)
        self.center = tf.constant(p.center, tf.float64)
        self.scale = tf.constant(p.scale, tf.float64)
        window = tf.TensorSpec([None, p.lookback, self.n_features], tf.float32, name="window")
        pred = tf.TensorSpec([None, p.horizon], tf.float32, name="prediction")
        self.transform = tf.function(self._transform, input_signature=[window])
        self.inverse = tf.function(self._inverse, input_signature=[pred, window])

    def _filled(self, window):
        return fill_missing(tf.cast(window, tf.float64), self.lookback)

    def _transform(self, window):
        filled = self._filled(window)
        if self.any_log:
            logs = tf.math.log(filled[:, 1:]) - tf.math.log(filled[:, :-1])
            filled = tf.where(self.log_mask, logs, filled[:, 1:])
        z = (filled - self.center) / self.scale
        z = tf.where(tf.math.is_finite(z), z, tf.zeros_like(z))
        return tf.cast(z, tf.float32)

    def _inverse(self, prediction, window):
        values = tf.cast(prediction, tf.float64) * self.scale[self.t] + self.center[self.t]
        if self.target_log:
            last = self._filled(window)[:, -1, self.t]
            values = last[:, None] * tf.exp(tf.cumsum(values, axis=1))
        return tf.cast(values, tf.float32)


def save(p: ForecastParams, path: str) -> None:
    """Export the transform graph as a SavedModel with ``transform`` and ``inverse`` signatures."""
    module = ForecastTransform(p)
    tf.saved_model.save(module, path, signatures={"transform": module.transform,
                                                   "inverse": module.inverse})
