"""Forecasting transform in NumPy: the Beam path. ``forecast_graph`` is the same math in TF.

A raw window ``[batch, lookback, features]`` becomes model input ``[batch, steps, features]``:
missing values are filled forward then backward inside the window, chosen features become log
returns (which drops the first step), and anything still missing becomes 0. Then:

- ``normalization: window`` (the default): each level feature is taken relative to the window
  itself, ``(v - last value) / spread`` (the window's standard deviation, at least a tenth of
  the train split's); log-return features are scaled with train-split statistics. The target is
  the **correction** to a base forecast in units of the window's spread, so a model that
  outputs 0 forecasts the base: naive, seasonal-naive or the seasonal mean (:func:`base_weights`),
  whichever was most accurate on the eval split, or a linear map of the window fitted on the
  train split when it is more accurate still (:mod:`seqline.components.tasks.forecast.linear_base`).
- ``normalization: global``: every feature is scaled with train-split statistics and the target
  is the future level (or log return), transformed the same way.

:func:`inverse` maps predictions back to original units.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seqline.components.tasks.missing_values import fill_missing


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
    normalization: str = "global"   # "window" or "global"
    spread_floor: list = None  # per feature: smallest window spread (window normalization)
    base: str = "none"         # the forecast the model corrects: one of BASES, or none
    seasonal_period: int = 1
    base_selection: dict = None  # {"split": ..., "mae": {base: MAE}}: how the base was chosen
    series_mase_scale: dict = None   # per series id: its own train-split mean absolute step
    quantiles: list = None     # sorted levels with 0.5 (model.quantiles), or None: a point forecast
    linear_weights: list = None  # [lookback][horizon]: the fitted weights of the linear base

    @property
    def target_index(self) -> int:
        return self.feature_columns.index(self.target_column)

    @property
    def any_log(self) -> bool:
        return any(self.log_returns)

    @property
    def levels(self) -> list:
        """The quantile levels the model outputs per forecast step ([0.5] for a point model)."""
        return self.quantiles or [0.5]

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


def window_relative(p: ForecastParams) -> np.ndarray:
    """One bool per feature: scaled by its own window (level features in window mode)."""
    return np.asarray([p.normalization == "window" and not log for log in p.log_returns])


def _location_spread(filled: np.ndarray, p: ForecastParams) -> tuple:
    """Per window and feature ``[B, 1, F]``: what is subtracted and what divides."""
    relative = window_relative(p)
    if not relative.any():
        return np.asarray(p.center), np.asarray(p.scale)
    spread = np.maximum(np.std(filled, axis=1, keepdims=True), np.asarray(p.spread_floor))
    return (np.where(relative, filled[:, -1:, :], p.center),
            np.where(relative, spread, p.scale))


def transform_window(raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Raw windows ``[B, lookback, F]`` -> model input ``[B, steps, F]`` (float32)."""
    filled = fill_missing(raw)
    location, spread = _location_spread(filled, p)
    z = (_features(filled, p) - location) / spread
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def last_target(raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """The last (filled) target value of each window, ``[B]``."""
    return fill_missing(raw)[:, -1, p.target_index]


BASES = ("naive", "seasonal_naive", "seasonal_mean")


def candidate_bases(lookback: int, period: int) -> list:
    """The bases a window of ``lookback`` steps can give with season ``period``: the seasonal
    ones need a period above 1, the seasonal mean at least two whole seasons."""
    if period <= 1:
        return ["naive"]
    return ["naive", "seasonal_naive"] + (["seasonal_mean"] if lookback // period >= 2 else [])


def base_weights(base: str, lookback: int, horizon: int, period: int) -> np.ndarray:
    """``[lookback, horizon]``: base forecast ``[h] = sum_s weights[s, h] * window target[s]``.

    ``naive`` repeats the last value; ``seasonal_naive`` the value one season before each
    forecast step; ``seasonal_mean`` averages that value over every whole season of the window
    (statsforecast's SeasonalWindowAverage), shifted by how far the mean of the last season lies
    above the mean of those seasons, so a trend does not pull it back.
    """
    m = period if base != "naive" else 1
    seasons = lookback // m if base == "seasonal_mean" else 1
    k = np.arange(1, horizon + 1)
    index = lookback - 1 + k - m * np.ceil(k / m).astype(int)
    weights = np.zeros((lookback, horizon))
    for j in range(seasons):
        weights[index - j * m, k - 1] += 1 / seasons
        weights[lookback - (j + 1) * m:lookback - j * m] -= 1 / (seasons * m)
    weights[lookback - m:] += 1 / m
    return weights


def params_base_weights(p: ForecastParams) -> np.ndarray:
    """``[lookback, horizon]``: the weights of the base ``p`` corrects: fitted for the linear
    base (:mod:`seqline.components.tasks.forecast.linear_base`), else :func:`base_weights`."""
    if p.base == "linear":
        return np.asarray(p.linear_weights, dtype=np.float64)
    return base_weights(p.base, p.lookback, p.horizon, p.seasonal_period)


def base_forecast(filled: np.ndarray, p: ForecastParams) -> np.ndarray:
    """The forecast a window-relative model corrects, ``[B, H]`` (filled windows in). Summed
    with einsum, not BLAS, so every process rounds it alike (written examples stay the same
    bytes on every runner)."""
    return np.einsum("bl,lh->bh", filled[:, :, p.target_index], params_base_weights(p))


def _target_affine(raw: np.ndarray, p: ForecastParams) -> tuple:
    """``(offset [B, H] or scalar, scale [B, 1] or scalar)``: target = (value - offset) / scale."""
    t = p.target_index
    if not window_relative(p)[t]:
        return p.center[t], p.scale[t]
    filled = fill_missing(raw)
    _, spread = _location_spread(filled, p)
    return base_forecast(filled, p), spread[:, 0, t:t + 1]


def transform_target(raw: np.ndarray, future: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Future target values ``[B, H]`` -> training targets ``[B, H]`` (float32)."""
    t = p.target_index
    future = np.asarray(future, dtype=np.float64)
    if p.log_returns[t]:
        chain = np.concatenate([last_target(raw, p)[:, None], future], axis=1)
        values = np.diff(np.log(chain), axis=1)
    else:
        values = future
    offset, scale = _target_affine(raw, p)
    return ((values - offset) / scale).astype(np.float32)


def _inverse_levels(pred: np.ndarray, raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Model output ``[B, H * Q]`` (step-major: ``h * Q + q``) -> ``[B, H, Q]`` in original units,
    each step's quantiles sorted ascending."""
    t = p.target_index
    offset, scale = _target_affine(raw, p)
    values = np.asarray(pred, dtype=np.float64).reshape(len(raw), p.horizon, len(p.levels))
    values = values * np.expand_dims(scale, -1) + np.expand_dims(offset, -1)
    if p.log_returns[t]:
        values = last_target(raw, p)[:, None, None] * np.exp(np.cumsum(values, axis=1))
    return np.sort(values, axis=2)


def inverse(pred: np.ndarray, raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Model output -> point forecasts in original units ``[B, H]`` (the median of a quantile
    model)."""
    return _inverse_levels(pred, raw, p)[:, :, p.levels.index(0.5)]


def inverse_quantiles(pred: np.ndarray, raw: np.ndarray, p: ForecastParams) -> np.ndarray:
    """Model output -> quantile forecasts in original units ``[B, H, Q]``, levels ``p.levels``."""
    return _inverse_levels(pred, raw, p)


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
