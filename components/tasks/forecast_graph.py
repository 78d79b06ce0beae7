"""The forecasting transform as a TF SavedModel (the transform graph the served model embeds).

Same math as :mod:`components.tasks.forecast_math`, computed in float64 so both paths agree.
Its functions have no tensor-dependent Python control flow, so they skip AutoGraph
(``autograph=False``: about 0.2 s less for the first export in a process).
"""
from __future__ import annotations

import tensorflow as tf

from components.tasks import forecast_math as fm
from components.tasks.forecast_math import ForecastParams
from components.tasks.missing_values import fill_missing_tf


class ForecastTransform(tf.Module):
    """``transform(window)`` -> model input; ``inverse(prediction, window)`` -> original units."""

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
        self.base_weights = tf.constant(
            fm.base_weights(p.base, p.lookback, p.horizon, p.seasonal_period), tf.float64)
        window = tf.TensorSpec([None, p.lookback, self.n_features], tf.float32, name="window")
        pred = tf.TensorSpec([None, p.horizon], tf.float32, name="prediction")
        self.transform = tf.function(self._transform, input_signature=[window], autograph=False)
        self.inverse = tf.function(self._inverse, input_signature=[pred, window],
                                   autograph=False)

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

    def _inverse(self, prediction, window):
        filled = self._filled(window)
        values = tf.cast(prediction, tf.float64)
        if self.target_relative:
            _, spread = self._location_spread(filled)
            base = tf.linalg.matmul(filled[:, :, self.t], self.base_weights)
            values = values * spread[:, 0, self.t:self.t + 1] + base
        else:
            values = values * self.scale[self.t] + self.center[self.t]
        if self.target_log:
            values = filled[:, -1, self.t][:, None] * tf.exp(tf.cumsum(values, axis=1))
        return tf.cast(values, tf.float32)


def save(p: ForecastParams, path: str) -> None:
    """Export the transform graph as a SavedModel with ``transform`` and ``inverse`` signatures."""
    module = ForecastTransform(p)
    tf.saved_model.save(module, path, signatures={"transform": module.transform,
                                                   "inverse": module.inverse})
