"""Forecasting transform in NumPy: the Beam path. ``forecast_graph`` is the same math in TF.

A raw window ``[batch, lookback, features]`` becomes model input ``[batch, steps, features]``:
missing values are filled forward then backward inside the window, chosen features become log
returns (which drops the first step), every feature is scaled with statistics from the train
split, and anything still missing becomes 0. Targets are the next ``horizon`` values of the target
column, transformed the same way; :func:`inverse` maps predictions back to original units.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from components.tasks.missing_values import fill_missing


@dataclass
class ForecastParams:
    """Everything the transform needs, saved as JSON next to the transform graph."""

    feature_columns: list
    target_column: str
    log_returns: list          # one bool per feature
    center: list               # per feature, subtracted after log returns
    scale: list                # per feature, divided after centering
    lookback: int
    horizon: int
    mase_scale: float          # mean |y_t - y_{t-1}| of the target on the train split

    @property
    def target_index(self) -> int:
        return self.feature_columns.index(self.target_column)

    @property
    def any_log(self) -> bool:
        return any(self.log_returns)

    @property
    def steps(self) -> int:
        return self.lookback - 1 if self.any_log else self.lookback

    def to_dict(self) -> dict:
        return asdict(self)


def _features(filled: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Log returns for chosen features (dropping the first step if any), raw values otherwise."""
    if not p.any_log:
        return filled
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.diff(np.log(filled), axis=1)
    return np.where(np.asarray(p.log_returns), logs, filled[:, 1:, :])


def transform_window(raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Raw windows ``[B, lookback, F]`` -> model input ``[B, steps, F]`` (float32)."""
    z = (_features(fill_missing(raw), p) - np.asarray(p.center)) / np.asarray(p.scale)
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def last_target(raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """The last (filled) target value of each window, ``[B]``."""
    return fill_missing(raw)[:, -1, p.target_index]


def transform_target(raw: np.ndarray, future: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Future target values ``[B, H]`` -> training targets ``[B, H]`` (float32)."""
    t = p.target_index
    future = np.asarray(future, dtype=np.float64)
    if p.log_returns[t]:
        chain = np.concatenate([last_target(raw, p)[:, None], future], axis=1)
        values = np.diff(np.log(chain), axis=1)
    else:
        values = future
    return ((values - p.center[t]) / p.scale[t]).astype(np.float32)


def inverse(pred: np.ndarray, raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Model output ``[B, H]`` -> forecasts in original units ``[B, H]``."""
    t = p.target_index
    values = np.asarray(pred, dtype=np.float64) * p.scale[t] + p.center[t]
    if p.log_returns[t]:
        return last_target(raw, p)[:, None] * np.exp(np.cumsum(values, axis=1))
    return values


def series_features(values: np.ndarray, log_returns: list) -> np.ndarray:
    """Per-step transformed values of a whole series ``[N, F]`` (row i: step i-1 -> i).

    Used by the analyzers; row 0 of log-return features is NaN (no previous value).
    """
    filled = fill_missing(values[None], axis=1)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.concatenate([np.full((1, filled.shape[1]), np.nan),
                               np.diff(np.log(filled), axis=0)])
    return np.where(np.asarray(log_returns), logs, filled)


def make_windows(values: np.ndarray, splits: list, p: ForecastParams, stride: int):
    """Cut one series ``[N, F]`` into windows; each belongs to the split of its first target.

    Yields ``(split, index of last input step, raw window [L, F], future target [H])``; windows whose
    future target has a missing value are skipped.
    """
    L, H, t = p.lookback, p.horizon, p.target_index
    for end in range(L - 1, len(values) - H, stride):
        future = values[end + 1:end + 1 + H, t]
        if np.isnan(future).any():
            continue
        yield splits[end + 1], end, values[end - L + 1:end + 1], future
