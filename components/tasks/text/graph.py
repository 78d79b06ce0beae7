"""The character vocabulary as a TF SavedModel (the transform graph the served model embeds).

Same mapping as :func:`seqline.components.tasks.text.numerics.encode`: code point -> id, unknown -> 0.
"""
from __future__ import annotations

import tensorflow as tf

from seqline.components.tasks.text.numerics import OOV_ID

REPLACEMENT = 0xFFFD   # what the OOV id decodes to (it is never sampled)


class CharVocab(tf.Module):
    """``encode(text)``, ``encode_batch(texts)`` and ``decode(ids)`` over one vocabulary."""

    def __init__(self, vocab: list):
        super().__init__()
        points = [ord(c) for c in vocab]
        self.size = len(vocab) + 1
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(points, tf.int64),
                                                tf.range(1, self.size, dtype=tf.int64)),
            default_value=OOV_ID)
        self.points = tf.constant([REPLACEMENT] + points, tf.int32)
        self.encode = tf.function(self._encode, input_signature=[tf.TensorSpec([], tf.string, name="text")])
        self.encode_batch = tf.function(self._encode_batch,
                                        input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        self.decode = tf.function(self._decode, input_signature=[tf.TensorSpec([None], tf.int32, name="ids")])

    def _lookup(self, points):
        return tf.cast(self.table.lookup(tf.cast(points, tf.int64)), tf.int32)

    def _encode(self, text):
        return self._lookup(tf.strings.unicode_decode(text, "UTF-8", errors="replace"))

    def _encode_batch(self, texts):
        points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        ids = tf.ragged.map_flat_values(self._lookup, points)
        return {"ids": ids.to_tensor(default_value=OOV_ID), "lengths": tf.cast(ids.row_lengths(), tf.int32)}

    def _decode(self, ids):
        return tf.strings.unicode_encode(tf.gather(self.points, ids), "UTF-8")


def save(vocab: list, path: str) -> None:
    """Export the vocabulary graph with ``encode``, ``encode_batch`` and ``decode`` signatures."""
    module = CharVocab(vocab)
    tf.saved_model.save(module, path, signatures={"encode": module.encode,
                                                   "encode_batch": module.encode_batch,
                                                   "decode": module.decode})
