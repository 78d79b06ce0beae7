"""tf.data input pipelines over the classification tasks' TransformedExamples."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from seqline.components.tfrecord_data import serialized_examples

META = ("meta/series_id", "meta/piece_start", "meta/start", "meta/piece_length")


def example_features(props: dict) -> dict:
    """The fixed-length features of one transformed series (classify) or window (label)."""
    steps, n = props["steps"], props["n_features"]
    targets = steps if props["per_step"] else 1
    spec = {"x": tf.io.FixedLenFeature([steps * (n + 1)], tf.float32),
            "y": tf.io.FixedLenFeature([targets], tf.int64),
            "w": tf.io.FixedLenFeature([targets], tf.float32),
            "series": tf.io.FixedLenFeature([steps * n], tf.float32),
            "length": tf.io.FixedLenFeature([], tf.int64),
            "labels": tf.io.FixedLenFeature([targets], tf.string),
            "meta/series_id": tf.io.FixedLenFeature([], tf.string)}
    spec.update({key: tf.io.FixedLenFeature([], tf.int64) for key in META[1:]})
    return spec


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, cache: bool = False,
                 with_raw: bool = False):
    """Batches of ``(x [B, steps, F + 1], y, w)``; ``y`` and ``w`` are ``[B]`` (classify) or
    ``[B, steps]`` (label). With ``with_raw`` a dict of the other features comes fourth."""
    steps, n, per_step = props["steps"], props["n_features"], props["per_step"]
    spec = example_features(props)
    if not with_raw:
        spec = {k: spec[k] for k in ("x", "y", "w")}
    ds = serialized_examples(pattern, shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed,
                             cache=cache)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        x = tf.reshape(ex.pop("x"), [-1, steps, n + 1])
        y, w = ex.pop("y"), ex.pop("w")
        if not per_step:
            y, w = y[:, 0], w[:, 0]
        if with_raw:
            ex["series"] = tf.reshape(ex["series"], [-1, steps, n])
            return x, y, w, ex
        return x, y, w

    return ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def load_arrays(pattern: str, props: dict, batch_size: int = 1024) -> dict:
    """A whole split in memory as NumPy arrays, file order: ``x``, ``y``, ``w``, ``series``,
    ``length``, ``labels`` (str) and ``meta/*``."""
    parts = {}
    ds = make_dataset(pattern, props, batch_size, with_raw=True)
    for x, y, w, raw in ds.as_numpy_iterator():
        for key, value in {"x": x, "y": y, "w": w, **raw}.items():
            parts.setdefault(key, []).append(value)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    for key in ("labels", "meta/series_id"):
        if key in out:
            out[key] = np.char.decode(out[key].astype(bytes), "utf-8")
    return out
