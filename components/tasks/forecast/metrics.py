"""Forecast accuracy metrics and baselines, in original units."""
from __future__ import annotations

import numpy as np

from seqline.components.tasks.forecast.numerics import base_weights, candidate_bases, fill_missing


def naive_forecast(windows: np.ndarray, target_index: int, horizon: int) -> np.ndarray:
    """Every future step equals the last observed value."""
    last = fill_missing(windows)[:, -1, target_index]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_forecast(windows: np.ndarray, target_index: int, horizon: int, period: int,
                      kind: str = "seasonal_naive") -> np.ndarray:
    """``seasonal_naive``: step k repeats the value one season earlier; ``seasonal_mean``: the
    mean of that value over the window's whole seasons, re-levelled at the last season
    (:func:`seqline.components.tasks.forecast.numerics.base_weights`)."""
    series = fill_missing(windows)[:, :, target_index]
    return series @ base_weights(kind, series.shape[1], horizon, period)


def drift_forecast(windows: np.ndarray, target_index: int, horizon: int) -> np.ndarray:
    """The line through the window's first and last values, extended ``horizon`` steps."""
    series = fill_missing(windows)[:, :, target_index]
    slope = (series[:, -1] - series[:, 0]) / max(series.shape[1] - 1, 1)
    return series[:, -1:] + slope[:, None] * np.arange(1, horizon + 1)


def window_mean_forecast(windows: np.ndarray, target_index: int, horizon: int) -> np.ndarray:
    """Every future step equals the mean of the window."""
    mean = np.nanmean(fill_missing(windows)[:, :, target_index], axis=1)
    return np.repeat(mean[:, None], horizon, axis=1)


def baseline_forecasts(windows: np.ndarray, target_index: int, horizon: int,
                       period: int) -> dict:
    """Every baseline the Evaluator scores, by name: the seasonal ones need a period > 1, the
    seasonal mean two whole seasons in the window."""
    out = {"naive": naive_forecast(windows, target_index, horizon)}
    for kind in candidate_bases(windows.shape[1], period)[1:]:
        out[kind] = seasonal_forecast(windows, target_index, horizon, period, kind)
    out["drift"] = drift_forecast(windows, target_index, horizon)
    out["window_mean"] = window_mean_forecast(windows, target_index, horizon)
    return out


def forecast_metrics(actual, predicted, last, mase_scale: float) -> dict:
    """MAE, RMSE, sMAPE (%), MASE and directional accuracy of ``predicted`` against ``actual``."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    err = actual - predicted
    denom = np.abs(actual) + np.abs(predicted)
    smape = np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0)
    last = np.asarray(last, float)[:, None]
    moved = np.sign(actual - last) != 0
    same = np.sign(predicted - last) == np.sign(actual - last)
    mae = float(np.mean(np.abs(err)))
    return {"mae": mae, "rmse": float(np.sqrt(np.mean(err ** 2))),
            "smape": float(100 * np.mean(smape)), "mase": mae / mase_scale,
            "directional_accuracy": float(np.mean(same[moved])) if moved.any() else float("nan")}
