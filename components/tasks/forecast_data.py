"""tf.data input pipelines over the forecast TransformedExamples TFRecords."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.tasks.tfrecord_data import serialized_examples


def window_features(steps: int, n_features: int, horizon: int, lookback: int) -> dict:
    """The fixed-length features of one transformed forecasting window."""
    return {"x": tf.io.FixedLenFeature([steps * n_features], tf.float32),
            "y": tf.io.FixedLenFeature([horizon], tf.float32),
            "y_raw": tf.io.FixedLenFeature([horizon], tf.float32),
            "window": tf.io.FixedLenFeature([lookback * n_features], tf.float32)}


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, with_raw: bool = False,
                 cache: bool = False):
    """Batches of ``(x [B, steps, F], y [B, H])`` (plus a dict of raw columns with ``with_raw``).

    Examples are read by :func:`serialized_examples` (interleaved, optionally cached and
    shuffled), then batched, parsed and prefetched.
    """
    steps, n_features = props["steps"], props["n_features"]
    spec = window_features(steps, n_features, props["horizon"], props["lookback"])
    if not with_raw:
        spec = {k: spec[k] for k in ("x", "y")}
    ds = serialized_examples(pattern, shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed,
                             cache=cache)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        x = tf.reshape(ex["x"], [-1, steps, n_features])
        if with_raw:
            raw = {"y_raw": ex["y_raw"],
                   "window": tf.reshape(ex["window"], [-1, props["lookback"], n_features])}
            return x, ex["y"], raw
        return x, ex["y"]

    return ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def load_arrays(pattern: str, props: dict, batch_size: int = 1024) -> dict:
    """A whole split in memory: ``x``, ``y``, ``y_raw``, ``window`` as NumPy arrays, file order."""
    parts = {"x": [], "y": [], "y_raw": [], "window": []}
    for x, y, raw in make_dataset(pattern, props, batch_size, with_raw=True).as_numpy_iterator():
        parts["x"].append(x)
        parts["y"].append(y)
        parts["y_raw"].append(raw["y_raw"])
        parts["window"].append(raw["window"])
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
