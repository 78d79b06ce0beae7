"""The served classifiers: transform graph + trained Keras model in one SavedModel.

Both take raw series in original units: ``series`` float32 ``[batch, steps, features]`` (any
``steps``; NaN = a missing value) and ``lengths`` int32 ``[batch]`` (the valid steps of each row,
at least 1; steps after it are padding and never change a prediction).

* classify: ``probabilities`` float32 ``[batch, classes]`` and ``label`` string ``[batch]``. The
  model reads the first ``max_length`` steps of a longer series.
* label: ``probabilities`` float32 ``[batch, steps, classes]`` and ``labels`` string
  ``[batch, steps]``, per step: every series is cut into windows with the training stride and
  the overlapping windows' probabilities are averaged. Padded steps get 0 and ``""``.

The serving functions skip AutoGraph (``autograph=False``): they have no tensor-dependent
Python control flow.
"""
from __future__ import annotations

import tensorflow as tf


def _inputs(n_features: int) -> list:
    return [tf.TensorSpec([None, None, n_features], tf.float32, name="series"),
            tf.TensorSpec([None], tf.int32, name="lengths")]


def _checked_lengths(series, lengths):
    tf.debugging.assert_positive(lengths, message="lengths: every series needs 1 or more steps")
    return tf.minimum(lengths, tf.shape(series)[1])


class ClassifyServer(tf.Module):
    """Raw series -> padded or cut to ``steps`` -> transform graph -> model -> class."""

    def __init__(self, graph, model, classes: list, steps: int, n_features: int):
        super().__init__()
        self.graph, self.model, self.steps = graph, model, steps
        self.classes = tf.constant(classes)
        self.serve = tf.function(self._serve, input_signature=_inputs(n_features),
                                 autograph=False)

    def _serve(self, series, lengths):
        lengths = tf.minimum(_checked_lengths(series, lengths), self.steps)
        series = series[:, :self.steps]
        series = tf.pad(series, [[0, 0], [0, self.steps - tf.shape(series)[1]], [0, 0]])
        probabilities = tf.cast(self.model(self.graph.transform(series, lengths),
                                           training=False), tf.float32)
        return {"probabilities": probabilities,
                "label": tf.gather(self.classes, tf.argmax(probabilities, axis=-1))}


class LabelServer(tf.Module):
    """Raw series -> windows -> transform graph -> model -> probabilities stitched per step."""

    def __init__(self, graph, model, classes: list, steps: int, stride: int, n_features: int):
        super().__init__()
        self.graph, self.model = graph, model
        self.steps, self.stride, self.n_features = steps, stride, n_features
        self.classes = tf.constant(classes)
        self.serve = tf.function(self._serve, input_signature=_inputs(n_features),
                                 autograph=False)

    def _serve(self, series, lengths):
        lengths = _checked_lengths(series, lengths)
        batch, total = tf.shape(series)[0], tf.shape(series)[1]
        frames = tf.signal.frame(series, self.steps, self.stride, pad_end=True, axis=1)
        count = tf.shape(frames)[1]
        starts = tf.range(count) * self.stride
        frame_lengths = tf.clip_by_value(lengths[:, None] - starts[None, :], 0, self.steps)
        x = self.graph.transform(tf.reshape(frames, [-1, self.steps, self.n_features]),
                                 tf.reshape(frame_lengths, [-1]))
        probabilities = tf.cast(self.model(x, training=False), tf.float32)
        probabilities = tf.reshape(probabilities, [batch, count, self.steps, -1])
        valid = tf.cast(tf.range(self.steps)[None, None, :] < frame_lengths[:, :, None],
                        tf.float32)
        summed = tf.signal.overlap_and_add(
            tf.transpose(probabilities * valid[..., None], [0, 3, 1, 2]), self.stride)
        covered = tf.signal.overlap_and_add(valid, self.stride)
        mean = tf.transpose(summed, [0, 2, 1])[:, :total] / tf.maximum(
            covered[:, :total, None], 1.0)
        in_series = tf.range(total)[None, :] < lengths[:, None]
        labels = tf.gather(self.classes, tf.argmax(mean, axis=-1))
        return {"probabilities": tf.where(in_series[..., None], mean, 0.0),
                "labels": tf.where(in_series, labels, "")}
