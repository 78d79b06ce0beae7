"""Fill missing values (NaN) along time: forward fill, then back fill for a leading gap.

The same math in NumPy (:func:`fill_missing`, the Beam path) and TensorFlow
(:func:`fill_missing_tf`, inside transform graphs), so both paths agree.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def fill_missing(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """Forward-fill then back-fill NaNs along ``axis`` (time); all-NaN stays NaN."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    idx = np.where(np.isnan(x), -1, np.arange(n))
    fwd = np.maximum.accumulate(idx, axis=-1)
    bwd = np.flip(np.minimum.accumulate(np.flip(np.where(idx < 0, n, idx), -1), -1), -1)
    pick = np.where(fwd >= 0, fwd, np.where(bwd < n, bwd, 0))
    out = np.take_along_axis(x, pick, axis=-1)
    out[(fwd < 0) & (bwd >= n)] = np.nan
    return np.moveaxis(out, -1, axis)


def _prefix_extreme(idx: tf.Tensor, length: int, reverse: bool) -> tf.Tensor:
    """Running max (or, with ``reverse``, min from the right) along axis 1 by doubling shifts."""
    k = 1
    while k < length:
        if reverse:
            pad = tf.fill(tf.concat([tf.shape(idx)[:1], [k], tf.shape(idx)[2:]], 0), length)
            idx = tf.minimum(idx, tf.concat([idx[:, k:], pad], axis=1))
        else:
            pad = tf.fill(tf.concat([tf.shape(idx)[:1], [k], tf.shape(idx)[2:]], 0), -1)
            idx = tf.maximum(idx, tf.concat([pad, idx[:, :-k]], axis=1))
        k *= 2
    return idx


def fill_missing_tf(x: tf.Tensor, length: int) -> tf.Tensor:
    """:func:`fill_missing` along axis 1 of ``[B, length, F]`` (``length`` static)."""
    nan = tf.math.is_nan(x)
    steps = tf.broadcast_to(tf.range(length)[None, :, None], tf.shape(x))
    fwd = _prefix_extreme(tf.where(nan, -1, steps), length, reverse=False)
    bwd = _prefix_extreme(tf.where(nan, length, steps), length, reverse=True)
    pick = tf.where(fwd >= 0, fwd, tf.where(bwd < length, bwd, 0))
    out = tf.experimental.numpy.take_along_axis(x, pick, axis=1)
    return tf.where((fwd < 0) & (bwd >= length), tf.constant(float("nan"), x.dtype), out)
