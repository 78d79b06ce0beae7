"""The statistical reference: statsforecast's AutoETS, fitted once on a series' train split and
run rolling-origin (no refit) over every later window, same horizon as the model.

ETS models are seasonal only up to a period of 24 (statsforecast, as R's ``forecast::ets``). For a
longer period (48 half-hours, 52 weeks) the series is seasonally adjusted first with classical
decomposition indices from the train split, a non-seasonal AutoETS forecasts the adjusted series
and the indices are added back (as ``stlf`` does with STL).
"""
from __future__ import annotations

import numpy as np

MAX_ETS_PERIOD = 24


def seasonal_indices(y: np.ndarray, period: int) -> np.ndarray:
    """Additive classical-decomposition indices ``[period]`` (mean zero) of ``y``: the mean, per
    phase ``t % period``, of ``y`` minus its centred moving average."""
    weights = np.ones(period + 1 - period % 2)
    if period % 2 == 0:
        weights[[0, -1]] = 0.5                   # the 2 x m moving average for an even period
    weights /= period
    trend = np.convolve(y, weights, mode="valid")
    offset = len(weights) // 2
    detrended = y[offset:offset + len(trend)] - trend
    phase = (np.arange(len(detrended)) + offset) % period
    index = np.bincount(phase, detrended, period) / np.maximum(np.bincount(phase, None, period), 1)
    return index - index.mean()


def auto_ets(target: np.ndarray, n_train: int, ends: list, horizon: int, period: int) -> np.ndarray:
    """AutoETS forecasts ``[len(ends), horizon]`` made after observing ``target[:end + 1]``; the
    model is fitted on ``target[:n_train]`` only. ``target`` has no missing values."""
    from statsforecast.ets import forecast_ets, forward_ets
    from statsforecast.models import AutoETS

    y = np.asarray(target, dtype=np.float64)
    season = np.zeros(len(y) + horizon)
    if period > MAX_ETS_PERIOD and n_train >= 2 * period + 1:
        season = np.resize(seasonal_indices(y[:n_train], period), len(season))
    seasonal = 1 < period <= MAX_ETS_PERIOD
    fitted = AutoETS(season_length=period if seasonal else 1).fit(y[:n_train] - season[:n_train])
    filtered = forward_ets(fitted.model_, y - season[:len(y)])
    states = filtered["states"]                  # row t + 1: the state after observing y[t]
    out = np.empty((len(ends), horizon))
    for i, end in enumerate(ends):
        mean = forecast_ets({**filtered, "states": states[:end + 2]}, horizon)["mean"]
        out[i] = mean + season[end + 1:end + 1 + horizon]
    return out
