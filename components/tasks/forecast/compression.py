"""Forecast compression hooks: test/train arrays, model-space outputs to original units, scores
(the Evaluator's metrics) and the edge model's metadata."""
from __future__ import annotations

import json

import numpy as np

from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.base import SplitArrays
from seqline.components.tasks.forecast.metrics import forecast_metrics, naive_forecast


def read_params(graph) -> fm.ForecastParams:
    """The transform's parameters saved next to the transform graph."""
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        return fm.ForecastParams(**json.load(fh))


def split_arrays(transformed, graph, split: str) -> SplitArrays:
    """Scaled windows and targets, raw windows (the serving input) and raw targets."""
    from seqline.components.tasks.forecast.data import load_arrays

    data = load_arrays(split_pattern(transformed.uri, split), transformed.properties)
    return SplitArrays(x=data["x"], y=data["y"], serving={"window": data["window"]},
                       extra={"y_raw": data["y_raw"], "params": read_params(graph)})


def from_model_space(data: SplitArrays, outputs: np.ndarray) -> dict:
    """Scaled predictions -> ``{"forecast": [N, horizon]}`` in original units."""
    p = data.extra["params"]
    return {"forecast": fm.inverse(outputs, data.serving["window"], p).astype(np.float32)}


def score(data: SplitArrays, outputs: dict) -> dict:
    """MAE, RMSE, sMAPE, MASE and directional accuracy, as the Evaluator computes them."""
    p = data.extra["params"]
    last = naive_forecast(data.serving["window"], p.target_index, p.horizon)[:, 0]
    return forecast_metrics(data.extra["y_raw"], outputs["forecast"], last, p.mase_scale)


def budget(section: dict):
    """At most ``max_relative_mae_increase`` more test MAE than the float model."""
    from seqline.components.compression.selection import Budget

    return Budget("mae", higher_is_better=False,
                  max_relative_loss=section["max_relative_mae_increase"])


def edge_metadata(graph, transformed) -> dict:
    """How to feed the edge model a raw window and read its forecast in original units."""
    p = read_params(graph)
    t = p.target_index
    relative = fm.window_relative(p)
    steps = ["fill missing values forward, then backward, along the window"]
    if relative.any():
        steps.append("for features with window_relative true: location = the last filled value "
                     "of the window, spread = max(standard deviation of the filled window "
                     "(population, over all lookback steps), spread_floor); for the others: "
                     "location = center, spread = scale")
    else:
        steps.append("location = center, spread = scale, per feature")
    if p.any_log:
        steps.append("for features with log_returns true: x[s] = log(v[s]) - log(v[s-1]); the "
                     "first step is dropped for every feature")
    steps += ["x = (x - location) / spread, per feature", "replace values that are not finite by 0"]
    if relative[t]:
        post = [f"value[h] = output[h] * spread of the target + the {p.base} forecast "
                "base[h] = sum over window steps s of base_weights[s][h] * filled target[s]"]
    else:
        post = ["value = output * scale + center"]
    if p.log_returns[t]:
        post.append("forecast[h] = last filled target value * exp(value[0] + ... + value[h])")
    else:
        post.append("forecast = value")
    outputs = {"horizon": p.horizon, "column": p.target_column}
    if p.quantiles:
        post = [f"output[h * {len(p.levels)} + q] is step h's quantile q (levels: "
                "outputs.forecast.quantiles); apply the steps below to each quantile"] + post
        post.append("sort each step's quantiles ascending; the point forecast is the 0.5 quantile")
        outputs["quantiles"] = p.levels
    return {
        "inputs": {"x": {"steps": p.steps, "features": p.feature_columns,
                         "description": "one window of past values, oldest step first"}},
        "preprocessing": {"raw_window": {"lookback": p.lookback, "columns": p.feature_columns},
                          "steps": steps,
                          "normalization": p.normalization,
                          "window_relative": dict(zip(p.feature_columns, relative.tolist())),
                          "spread_floor": dict(zip(p.feature_columns,
                                                   p.spread_floor or [0.0] * len(relative))),
                          "log_returns": dict(zip(p.feature_columns, p.log_returns)),
                          "center": dict(zip(p.feature_columns, p.center)),
                          "scale": dict(zip(p.feature_columns, p.scale))},
        "outputs": {"forecast": outputs},
        "postprocessing": {"steps": post, "center": p.center[t], "scale": p.scale[t],
                           "window_relative": bool(relative[t]), "base": p.base,
                           "base_weights": fm.params_base_weights(p).tolist(),
                           "log_returns": p.log_returns[t]},
        "label_map": None,
    }
