"""The served forecaster: transform graph + trained Keras model in one SavedModel.

``serving_default`` takes raw windows (``window``: float32 ``[batch, lookback, features]`` in
original units, NaN allowed) and returns ``forecast`` (float32 ``[batch, horizon]``, original units);
a quantile model also returns ``quantiles`` (float32 ``[batch, horizon, levels]``, ascending).
The serving functions skip AutoGraph (``autograph=False``): they have no tensor-dependent
Python control flow.
"""
from __future__ import annotations

import tensorflow as tf


class ForecastServer(tf.Module):
    """Raw window -> transform graph -> model -> inverse transform."""

    def __init__(self, graph, model, lookback: int, n_features: int, quantiles: bool = False):
        super().__init__()
        self.graph, self.model, self.quantiles = graph, model, quantiles
        spec = tf.TensorSpec([None, lookback, n_features], tf.float32, name="window")
        self.serve = tf.function(self._serve, input_signature=[spec], autograph=False)

    def _serve(self, window):
        prediction = tf.cast(self.model(self.graph.transform(window), training=False), tf.float32)
        out = {"forecast": self.graph.inverse(prediction, window)}
        if self.quantiles:
            out["quantiles"] = self.graph.inverse_quantiles(prediction, window)
        return out
