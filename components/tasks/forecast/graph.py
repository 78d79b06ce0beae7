"""The forecasting transform as a TF SavedModel (the transform graph the served model embeds).

Same math as :mod:`seqline.components.tasks.forecast.numerics`, computed in float64 so both paths agree.
Its functions have no tensor-dependent Python control flow, so they skip AutoGraph
(``autograph=False``: about 0.2 s less for the first export in a process).
"""
from __future__ import annotations

import tensorflow as tf

from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.forecast.numerics import ForecastParams
from seqline.components.tasks.missing_values import fill_missing_tf


class ForecastTransform(tf.Module):
    """``transform(window)`` -> model input; ``inverse(prediction, window)`` -> point forecast
    in original units; with quantiles also ``inverse_quantiles(prediction, window)``."""

    def __init__(self, p: ForecastParams):
        super().__init__()
        self.lookback, self.horizon = p.lookback, p.horizon
        self.n_features, self.t = len(p.feature_columns), p.target_index
        self.any_log, self.target_log = p.any_log, p.log_returns[p.target_index]
        self.log_mask = tf.constant(p.log_returns, tf.bool)
        relative = fm.window_relative(p)
        self.relative, self.target_relative = relative.any(), relative[self.t]
        self.relative_mask = tf.constant(relative, tf.bool)
        self.center = tf.constant(p.center, tf.float64)
        self.scale = tf.constant(p.scale, tf.float64)
        self.floor = tf.constant(p.spread_floor or [0.0] * self.n_features, tf.float64)
        self.base_weights = tf.constant(fm.params_base_weights(p), tf.float64)
        self.n_levels, self.median = len(p.levels), p.levels.index(0.5)
        window = tf.TensorSpec([None, p.lookback, self.n_features], tf.float32, name="window")
        pred = tf.TensorSpec([None, p.horizon * self.n_levels], tf.float32, name="prediction")
        self.transform = tf.function(self._transform, input_signature=[window], autograph=False)
        self.inverse = tf.function(self._inverse, input_signature=[pred, window],
                                   autograph=False)
        if p.quantiles:
            self.inverse_quantiles = tf.function(self._inverse_levels,
                                                 input_signature=[pred, window], autograph=False)

    def _filled(self, window):
        return fill_missing_tf(tf.cast(window, tf.float64), self.lookback)

    def _location_spread(self, filled):
        if not self.relative:
            return self.center, self.scale
        spread = tf.maximum(tf.math.reduce_std(filled, axis=1, keepdims=True), self.floor)
        return (tf.where(self.relative_mask, filled[:, -1:, :], self.center),
                tf.where(self.relative_mask, spread, self.scale))

    def _transform(self, window):
        filled = self._filled(window)
        location, spread = self._location_spread(filled)
        if self.any_log:
            logs = tf.math.log(filled[:, 1:]) - tf.math.log(filled[:, :-1])
            filled = tf.where(self.log_mask, logs, filled[:, 1:])
        z = (filled - location) / spread
        z = tf.where(tf.math.is_finite(z), z, tf.zeros_like(z))
        return tf.cast(z, tf.float32)

    def _inverse_levels(self, prediction, window):
        filled = self._filled(window)
        values = tf.reshape(tf.cast(prediction, tf.float64), [-1, self.horizon, self.n_levels])
        if self.target_relative:
            _, spread = self._location_spread(filled)
            base = tf.linalg.matmul(filled[:, :, self.t], self.base_weights)
            values = values * spread[:, :, self.t:self.t + 1] + base[:, :, None]
        else:
            values = values * self.scale[self.t] + self.center[self.t]
        if self.target_log:
            values = filled[:, -1, self.t][:, None, None] * tf.exp(tf.cumsum(values, axis=1))
        return tf.cast(tf.sort(values, axis=2), tf.float32)

    def _inverse(self, prediction, window):
        return self._inverse_levels(prediction, window)[:, :, self.median]


def save(p: ForecastParams, path: str) -> None:
    """Export the transform graph as a SavedModel with ``transform`` and ``inverse`` signatures
    (and ``inverse_quantiles`` for a quantile model)."""
    module = ForecastTransform(p)
    signatures = {"transform": module.transform, "inverse": module.inverse}
    if p.quantiles:
        signatures["inverse_quantiles"] = module.inverse_quantiles
    tf.saved_model.save(module, path, signatures=signatures)
