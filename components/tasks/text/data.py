"""tf.data input pipelines over the generate TransformedExamples TFRecords."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from seqline.components.tfrecord_data import batched_examples


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, with_text: bool = False,
                 cache: bool = False):
    """Batches of ``(x [B, seq_len] int32, y [B, seq_len] int32)``: y is x shifted by one
    character (plus the windows' ``text`` with ``with_text``)."""
    spec = {"ids": tf.io.FixedLenFeature([props["seq_len"] + 1], tf.int64)}
    if with_text:
        spec["text"] = tf.io.FixedLenFeature([], tf.string)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        ids = tf.cast(ex["ids"], tf.int32)
        if with_text:
            return ids[:, :-1], ids[:, 1:], ex["text"]
        return ids[:, :-1], ids[:, 1:]

    return batched_examples(pattern, batch_size, parse, shuffle=shuffle,
                            shuffle_buffer=shuffle_buffer, seed=seed, cache=cache)


def load_arrays(pattern: str, props: dict, batch_size: int = 1024) -> dict:
    """A whole split in memory, in file order: ``x``, ``y`` (int32 ``[N, seq_len]``) and
    ``text`` (the ``seq_len + 1`` characters of each window)."""
    parts = {"x": [], "y": [], "text": []}
    for x, y, text in make_dataset(pattern, props, batch_size, with_text=True).as_numpy_iterator():
        parts["x"].append(x)
        parts["y"].append(y)
        parts["text"] += [t.decode("utf-8") for t in text]
    empty = np.zeros((0, props["seq_len"]), np.int32)
    return {"x": np.concatenate(parts["x"]) if parts["x"] else empty,
            "y": np.concatenate(parts["y"]) if parts["y"] else empty, "text": parts["text"]}
