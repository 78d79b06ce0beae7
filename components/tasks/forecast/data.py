"""tf.data input pipelines over the forecast TransformedExamples: the windows cut from each
series segment (:mod:`~seqline.components.tasks.forecast.segments`) as they are read."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import tensorflow as tf

from seqline.components.tasks.forecast import segments
from seqline.components.tasks.forecast.numerics import ForecastParams
from seqline.components.tfrecord_data import batched_examples

WINDOW_PARTS = ("x", "y", "window", "y_raw")


def window_params(pattern: str) -> ForecastParams:
    """The fitted transform saved beside the split files ``pattern``."""
    with open(os.path.join(os.path.dirname(pattern), segments.PARAMS_FILE), encoding="utf-8") as fh:
        return ForecastParams(**json.load(fh))


def _window_elements(p: ForecastParams, parts: tuple):
    """A dataset of serialized segments -> one element per window: ``parts`` of
    :func:`~seqline.components.tasks.forecast.segments.cut_windows`, cut in NumPy."""
    n_features = len(p.feature_columns)
    shapes = {"x": [None, p.steps, n_features], "y": [None, p.horizon],
              "window": [None, p.lookback, n_features], "y_raw": [None, p.horizon]}

    def cut(data):
        seg = segments.decode_segment(data, n_features, p.horizon)
        windows = segments.cut_windows(seg["values"], seg["ends"], p)
        return tuple(windows[name] for name in parts)

    def windows(serialized):
        out = tf.numpy_function(cut, [serialized], [tf.float32] * len(parts), stateful=False)
        for tensor, name in zip(out, parts):
            tensor.set_shape(shapes[name])
        return tuple(out)

    return lambda records: records.map(windows, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, with_raw: bool = False,
                 cache: bool = False):
    """Batches of ``(x [B, steps, F], y [B, H])`` (plus a dict of the raw ``window`` and
    ``y_raw`` with ``with_raw``), read by
    :func:`seqline.components.tfrecord_data.batched_examples`: the serialized segments are
    cached (with ``cache``), their windows cut each epoch and then shuffled."""
    parts = WINDOW_PARTS if with_raw else WINDOW_PARTS[:2]

    def parse(*batch):
        if with_raw:
            x, y, window, y_raw = batch
            return x, y, {"y_raw": y_raw, "window": window}
        return batch

    return batched_examples(pattern, batch_size, parse, shuffle=shuffle,
                            shuffle_buffer=shuffle_buffer, seed=seed, cache=cache,
                            expand=_window_elements(window_params(pattern), parts))


def _segments(pattern: str):
    """The serialized segments of ``pattern``, file by file in name order."""
    for path in sorted(glob.glob(pattern)):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator():
            yield record


def load_arrays(pattern: str, props: dict) -> dict:
    """A whole split in memory, file order: ``x``, ``y``, ``y_raw``, ``window`` as NumPy arrays,
    ``series`` and ``times`` (each window's series id and first target time) and ``reference``
    (the AutoETS forecasts ``[N, H]`` where the Transform made them, else ``None``)."""
    p = window_params(pattern)
    parts = {name: [] for name in WINDOW_PARTS}
    series, times, refs = [], [], []
    for data in _segments(pattern):
        seg = segments.decode_segment(data, len(p.feature_columns), p.horizon, meta=True)
        for name, value in segments.cut_windows(seg["values"], seg["ends"], p).items():
            parts[name].append(value)
        series += [seg["series_id"]] * len(seg["ends"])
        times += seg["target_time"]
        refs.append(seg["reference"])
    out = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
    has_ref = bool(refs) and all(r is not None for r in refs)
    return {**out, "series": series, "times": times,
            "reference": np.concatenate(refs) if has_ref else None}


def target_quantiles(pattern: str, props: dict, levels: list, count: int,
                     sample: int = 100_000) -> np.ndarray:
    """``[horizon, len(levels)]``: the ``levels`` quantiles of the training targets ``y`` per
    forecast step, from about ``sample`` evenly spaced windows of the ``count`` in ``pattern``."""
    every = max(1, -(-count // sample))
    ys = [y[::every] for _, y in make_dataset(pattern, props, 4096 * every).as_numpy_iterator()]
    return np.quantile(np.concatenate(ys), levels, axis=0).T
