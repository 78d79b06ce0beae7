"""tf.data input pipelines over the forecast TransformedExamples TFRecords."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from seqline.components.tfrecord_data import batched_examples


def window_features(steps: int, n_features: int, horizon: int, lookback: int) -> dict:
    """The fixed-length features of one transformed forecasting window."""
    return {"x": tf.io.FixedLenFeature([steps * n_features], tf.float32),
            "y": tf.io.FixedLenFeature([horizon], tf.float32),
            "y_raw": tf.io.FixedLenFeature([horizon], tf.float32),
            "window": tf.io.FixedLenFeature([lookback * n_features], tf.float32)}


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, with_raw: bool = False,
                 cache: bool = False):
    """Batches of ``(x [B, steps, F], y [B, H])`` (plus a dict of raw columns with ``with_raw``),
    read by :func:`seqline.components.tfrecord_data.batched_examples`."""
    steps, n_features = props["steps"], props["n_features"]
    spec = window_features(steps, n_features, props["horizon"], props["lookback"])
    if not with_raw:
        spec = {k: spec[k] for k in ("x", "y")}

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        x = tf.reshape(ex["x"], [-1, steps, n_features])
        if with_raw:
            raw = {"y_raw": ex["y_raw"],
                   "window": tf.reshape(ex["window"], [-1, props["lookback"], n_features])}
            return x, ex["y"], raw
        return x, ex["y"]

    return batched_examples(pattern, batch_size, parse, shuffle=shuffle,
                            shuffle_buffer=shuffle_buffer, seed=seed, cache=cache)


def load_arrays(pattern: str, props: dict, batch_size: int = 1024) -> dict:
    """A whole split in memory: ``x``, ``y``, ``y_raw``, ``window`` as NumPy arrays, file order."""
    parts = {"x": [], "y": [], "y_raw": [], "window": []}
    for x, y, raw in make_dataset(pattern, props, batch_size, with_raw=True).as_numpy_iterator():
        parts["x"].append(x)
        parts["y"].append(y)
        parts["y_raw"].append(raw["y_raw"])
        parts["window"].append(raw["window"])
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}


def target_quantiles(pattern: str, horizon: int, levels: list, count: int,
                     sample: int = 100_000) -> np.ndarray:
    """``[horizon, len(levels)]``: the ``levels`` quantiles of the training targets ``y`` per
    forecast step, from about ``sample`` evenly spaced windows of the ``count`` in ``pattern``."""
    spec = {"y": tf.io.FixedLenFeature([horizon], tf.float32)}
    every = max(1, -(-count // sample))
    ys = [batch["y"][::every] for batch in batched_examples(
        pattern, 4096 * every, lambda s: tf.io.parse_example(s, spec)).as_numpy_iterator()]
    return np.quantile(np.concatenate(ys), levels, axis=0).T
