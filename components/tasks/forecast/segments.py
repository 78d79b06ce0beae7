"""Forecast series segments: how the Transform writes a series once and readers cut its windows.

A segment is one ``tf.train.Example`` holding a stretch of one series' raw rows and where its
windows end, so the split files hold each row about once instead of once per window it falls
in (``lookback`` + ``horizon`` times). Features:

- ``series_id``: the series (one bytes value);
- ``values``: the raw rows ``[rows, features]``, row-major (float32, NaN missing), from the
  first window's first input step to the last window's last target step;
- ``ends``: per window, the row of its last input step (int64);
- ``target_time``: per window, the time of its first target (bytes);
- ``reference/auto_ets``: in test segments when asked, the AutoETS forecast of each window,
  ``[windows, horizon]`` row-major.

:func:`cut_windows` makes the model input and targets of a segment's windows with the same
NumPy transform as before (:mod:`~seqline.components.tasks.forecast.numerics`), so the windows,
their order and their values are those of one example per window.
"""
from __future__ import annotations

import numpy as np

from seqline.components.example_proto import Example
from seqline.components.tasks.forecast import numerics as fm

SEGMENT_WINDOWS = 4096   # windows per segment at most: bounds what a reader holds per element
PARAMS_FILE = "window_params.json"   # the fitted ForecastParams, beside the split files


def window_ends(values: np.ndarray, p: fm.ForecastParams, stride: int) -> np.ndarray:
    """The last input row of each window of one series ``[N, F]``: every ``stride`` rows, less
    those whose future target has a missing value (as
    :func:`~seqline.components.tasks.forecast.numerics.make_windows`)."""
    L, H = p.lookback, p.horizon
    ends = np.arange(L - 1, len(values) - H, stride)
    missing = np.concatenate([[0], np.cumsum(np.isnan(values[:, p.target_index]))])
    return ends[missing[ends + 1 + H] == missing[ends + 1]]


def _segment(series_id: str, values: np.ndarray, ends: np.ndarray, times: list,
             p: fm.ForecastParams, reference) -> bytes:
    """One serialized segment: the rows the windows ending at ``ends`` need, and where they end."""
    first, last = ends[0] - p.lookback + 1, ends[-1] + p.horizon
    ex = Example()
    f = ex.features.feature
    f["series_id"].bytes_list.value.append(series_id.encode())
    f["values"].float_list.value.extend(values[first:last + 1].astype(np.float32).ravel().tolist())
    f["ends"].int64_list.value.extend((ends - first).tolist())
    f["target_time"].bytes_list.value.extend(times[e + 1].encode() for e in ends.tolist())
    if reference is not None:
        f["reference/auto_ets"].float_list.value.extend(
            np.asarray(reference, np.float32).ravel().tolist())
    return ex.SerializeToString(deterministic=True)


def encode_segments(series_id: str, values: np.ndarray, times: list, ends: np.ndarray,
                    splits: np.ndarray, p: fm.ForecastParams, reference=None) -> dict:
    """``{split: [serialized segment, ...]}`` of one series' windows ``ends`` (``splits``: the
    split of each), in time order, at most :data:`SEGMENT_WINDOWS` windows per segment and each
    segment within one split. ``reference``: the test windows' AutoETS forecasts ``[n, H]``, in
    order, or ``None``."""
    out = {}
    tested = 0
    for split in dict.fromkeys(splits.tolist()):
        picked = ends[splits == split]
        for start in range(0, len(picked), SEGMENT_WINDOWS):
            part = picked[start:start + SEGMENT_WINDOWS]
            ref = None
            if split == "test" and reference is not None:
                ref, tested = reference[tested:tested + len(part)], tested + len(part)
            out.setdefault(split, []).append(_segment(series_id, values, part, times, p, ref))
    return out


def decode_segment(data: bytes, n_features: int, horizon: int, meta: bool = False) -> dict:
    """A serialized segment as ``values`` ``[rows, F]`` (float64) and ``ends``; with ``meta``
    also ``series_id``, ``target_time`` (strings) and ``reference`` (``[n, H]`` or ``None``)."""
    f = Example.FromString(data).features.feature
    values = np.asarray(f["values"].float_list.value, np.float32).astype(np.float64)
    out = {"values": values.reshape(-1, n_features),
           "ends": np.asarray(f["ends"].int64_list.value, np.int64)}
    if meta:
        ref = f["reference/auto_ets"].float_list.value if "reference/auto_ets" in f else None
        out.update(series_id=f["series_id"].bytes_list.value[0].decode(),
                   target_time=[t.decode() for t in f["target_time"].bytes_list.value],
                   reference=None if ref is None else
                   np.asarray(ref, np.float32).astype(np.float64).reshape(-1, horizon))
    return out


def cut_windows(values: np.ndarray, ends: np.ndarray, p: fm.ForecastParams) -> dict:
    """The windows ending at ``ends`` of ``values`` ``[rows, F]``: ``x`` (model input
    ``[n, steps, F]``), ``y`` (training target ``[n, H]``), ``window`` (raw input ``[n, L, F]``)
    and ``y_raw`` (target in original units ``[n, H]``), all float32."""
    raw = values[ends[:, None] + np.arange(1 - p.lookback, 1)]
    future = values[ends[:, None] + np.arange(1, p.horizon + 1), p.target_index]
    return {"x": fm.transform_window(raw, p), "y": fm.transform_target(raw, future, p),
            "window": raw.astype(np.float32), "y_raw": future.astype(np.float32)}
