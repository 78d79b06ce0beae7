"""The served model: transform graph + trained Keras model in one SavedModel.

Its ``serving_default`` signature takes raw windows (``window``: float32
``[batch, lookback, features]`` in original units, NaN allowed) and returns ``forecast``
(float32 ``[batch, horizon]`` in original units).
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

METADATA = os.path.join("assets.extra", "seqline.json")


class ForecastServer(tf.Module):
    """Raw window -> transform graph -> model -> inverse transform."""

    def __init__(self, graph, model, lookback: int, n_features: int):
        super().__init__()
        self.graph, self.model = graph, model
        spec = tf.TensorSpec([None, lookback, n_features], tf.float32, name="window")
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, window):
        prediction = self.model(self.graph.transform(window), training=False)
        return {"forecast": self.graph.inverse(tf.cast(prediction, tf.float32), window)}


def export(graph_dir: str, model_path: str, props: dict, path: str, metadata: dict) -> None:
    """Write the serving SavedModel to ``path`` (which must not exist yet)."""
    import keras

    graph = tf.saved_model.load(graph_dir)
    model = keras.saving.load_model(model_path, compile=False)
    server = ForecastServer(graph, model, props["lookback"], props["n_features"])
    tf.saved_model.save(server, path, signatures={"serving_default": server.serve})
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, METADATA), "w", encoding="utf-8") as fh:
        json.dump(metadata, fh, indent=2)


def load_signature(path: str):
    """The ``serving_default`` function of an exported model."""
    return tf.saved_model.load(path).signatures["serving_default"]


def read_metadata(path: str) -> dict:
    with open(os.path.join(path, METADATA), encoding="utf-8") as fh:
        return json.load(fh)


def versions(model_dir: str) -> list:
    """Integer versions present under ``<serving_dir>/<model_name>``, ascending."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(v) for v in os.listdir(model_dir)
                  if v.isdigit() and os.path.isfile(os.path.join(model_dir, v, "saved_model.pb")))
