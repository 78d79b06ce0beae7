"""The served speech recognizer: transform graph + CTC model + decoder + detokenizer in one
SavedModel.

``serving_default`` takes one clip, ``waveform`` (float32 ``[samples]`` in [-1, 1], mono, at the
training sample rate), and returns ``transcript`` (a string).
"""
from __future__ import annotations

import tensorflow as tf


class SpeechServer(tf.Module):
    """Raw waveform -> features (train statistics) -> model -> CTC decoding -> text."""

    def __init__(self, graph, model):
        super().__init__()
        self.graph, self.model = graph, model
        self.output = model.get_layer("ctc_output")
        spec = tf.TensorSpec([None], tf.float32, name="waveform")
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, waveform):
        waveform = tf.pad(waveform, [[0, tf.maximum(0, 1 - tf.size(waveform))]])   # >= 1 frame
        features = self.graph.features(waveform)
        logits = self.model({"features": features[None], "lengths": tf.shape(features)[:1]},
                            training=False)
        ids = tf.cast(self.output.decode(logits), tf.int32)
        return {"transcript": self.graph.detokenize(ids)[0]}
