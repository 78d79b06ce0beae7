"""Prediction intervals of a quantile forecaster, scored next to a baseline's.

Each central interval pairs the i-th lowest level with the i-th highest (0.1 and 0.9: the 80%
interval). Its **coverage** is the share of test values inside it (80% is calibrated), its
**width** the mean distance between the two quantiles (narrower is better at the same coverage).
The **scaled pinball loss** (M5's scaled quantile loss) is the mean pinball loss over every level
and step divided by the train split's mean absolute step, so it reads like MASE. The baseline
interval is the best baseline's forecast plus the empirical quantiles of its errors on a
calibration split (the eval split): what a user gets with no model at all.
"""
from __future__ import annotations

import numpy as np


def central_intervals(levels: list) -> list:
    """``[(lower index, upper index, nominal coverage)]``, widest first."""
    below = [i for i, q in enumerate(levels) if q < 0.5]
    above = [i for i, q in enumerate(levels) if q > 0.5][::-1]
    return [(lo, hi, levels[hi] - levels[lo]) for lo, hi in zip(below, above)]


def interval_name(nominal: float) -> str:
    """``0.8`` -> ``"80"`` (the key of the 80% interval)."""
    return f"{100 * nominal:.4g}"


def pinball(actual: np.ndarray, quantiles: np.ndarray, levels: list) -> float:
    """Mean pinball loss of ``quantiles [N, H, Q]`` against ``actual [N, H]``."""
    error = np.asarray(actual, float)[:, :, None] - quantiles
    q = np.asarray(levels)
    return float(np.mean(np.maximum(q * error, (q - 1) * error)))


def interval_scores(actual: np.ndarray, quantiles: np.ndarray, levels: list,
                    mase_scale: float) -> dict:
    """``{"scaled_pinball", "pinball", "intervals": {name: {"lower", "upper", "nominal",
    "coverage", "width"}}}``."""
    actual = np.asarray(actual, float)
    loss = pinball(actual, quantiles, levels)
    intervals = {}
    for lo, hi, nominal in central_intervals(levels):
        lower, upper = quantiles[:, :, lo], quantiles[:, :, hi]
        intervals[interval_name(nominal)] = {
            "lower": levels[lo], "upper": levels[hi], "nominal": nominal,
            "coverage": float(np.mean((actual >= lower) & (actual <= upper))),
            "width": float(np.mean(upper - lower))}
    return {"scaled_pinball": loss / mase_scale, "pinball": loss, "intervals": intervals}


def error_quantiles(actual: np.ndarray, forecast: np.ndarray, levels: list) -> np.ndarray:
    """``[H, Q]``: per forecast step, the ``levels`` quantiles of ``actual - forecast``."""
    return np.quantile(np.asarray(actual, float) - forecast, levels, axis=0).T


def baseline_quantiles(forecast: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """A point forecast ``[N, H]`` widened by error quantiles ``[H, Q]`` -> ``[N, H, Q]``."""
    return forecast[:, :, None] + errors[None]


def interval_lines(model: dict, baseline: dict) -> list:
    """Console lines comparing the model's intervals and pinball loss with the baseline's
    (``baseline["name"]``: its point forecast, ``baseline["calibration_split"]``: where its
    error quantiles come from)."""
    lines = []
    for name, m in model["intervals"].items():
        b = baseline["intervals"][name]
        lines.append(f"{name}% interval (q{m['lower']:g} to q{m['upper']:g}): coverage model "
                     f"{m['coverage']:.1%}, baseline {b['coverage']:.1%}; mean width model "
                     f"{m['width']:.4g}, baseline {b['width']:.4g}")
    ratio = model["scaled_pinball"] / baseline["scaled_pinball"]
    lines.append(f"scaled pinball loss: model {model['scaled_pinball']:.4f}, baseline "
                 f"({baseline['name']} + {baseline['calibration_split']}-split error quantiles) "
                 f"{baseline['scaled_pinball']:.4f} ({ratio:.2f}x)")
    return lines
