"""Forecast evaluation: test-split metrics in original units, next to baselines; the blessing.

The naive (last value) and seasonal-naive forecasts are scored on the same windows. The current
champion (newest pushed version) is re-scored on the same windows so the comparison is fair.
Writes ``metrics.json``, ``predictions.csv``, ``forecast_vs_actual.png`` and ``residuals.png``.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np

from components import ensemble
from components.split_io import split_pattern
from components.tasks import forecast_math as fm
from components.tasks.forecast_metrics import (forecast_metrics, naive_forecast,
                                               seasonal_naive_forecast)


def _champion_forecast(champion_dir: str, windows: np.ndarray, ctx):
    """The newest pushed model's forecasts on ``windows``, or ``None`` if there is none."""
    from components import serving_export

    found = serving_export.versions(champion_dir)
    if not found:
        return None, None
    path = os.path.join(champion_dir, str(found[-1]))
    serve = serving_export.load_signature(path)
    expected = tuple(serve.structured_input_signature[1]["window"].shape[1:])
    if expected != windows.shape[1:]:
        ctx.echo(f"champion v{found[-1]} takes windows of shape {expected}, not "
                 f"{windows.shape[1:]}: not compared")
        return found[-1], None
    out = [serve(window=windows[i:i + 1024])["forecast"].numpy() for i in range(0, len(windows), 1024)]
    return found[-1], np.concatenate(out)


def bless(model: dict, naive: dict, champion: dict | None, rules: dict) -> tuple:
    """Apply the blessing rules; return ``(blessed, reasons)``."""
    reasons, ok = [], True
    if rules["max_mase"] is not None:
        passed = model["mase"] < rules["max_mase"]
        ok &= passed
        reasons.append(f"MASE {model['mase']:.4f} {'<' if passed else '>='} max_mase {rules['max_mase']}")
    if rules["max_ratio_to_naive"] is not None:
        ratio = model["mase"] / naive["mase"]
        passed = ratio <= rules["max_ratio_to_naive"]
        ok &= passed
        reasons.append(f"MASE / naive MASE = {ratio:.4f} {'<=' if passed else '>'} "
                       f"max_ratio_to_naive {rules['max_ratio_to_naive']}")
    limit = rules["max_regression_vs_champion"]
    if champion is not None and limit is not None:
        bound = champion["mase"] * (1 + limit)
        passed = model["mase"] <= bound
        ok &= passed
        reasons.append(f"MASE {model['mase']:.4f} {'<=' if passed else '>'} champion "
                       f"{champion['mase']:.4f} x (1 + {limit})")
    if not reasons:
        reasons.append("no blessing rule applies (no threshold and no champion)")
    return bool(ok), reasons


def _write_predictions(path, data, forecast, naive):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        horizon = forecast.shape[1]
        writer.writerow(["series_id", "target_time"] + [f"{k}{h + 1}" for k in ("actual", "forecast", "naive")
                                                        for h in range(horizon)])
        for i in range(len(forecast)):
            writer.writerow([data["series"][i], data["times"][i], *data["y_raw"][i], *forecast[i], *naive[i]])


def _meta(pattern: str) -> tuple:
    """Series ids and target times of a split, in file order."""
    import tensorflow as tf

    spec = {"meta/series_id": tf.io.FixedLenFeature([], tf.string),
            "meta/target_time": tf.io.FixedLenFeature([], tf.string)}
    files = tf.data.Dataset.list_files(pattern, shuffle=False)
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096).map(
        lambda s: tf.io.parse_example(s, spec))
    series, times = [], []
    for batch in ds.as_numpy_iterator():
        series += [s.decode() for s in batch["meta/series_id"]]
        times += [t.decode() for t in batch["meta/target_time"]]
    return series, times


def evaluate(params: dict, examples, graph, model_path: str, evaluation, ctx) -> tuple:
    """Score the model; ``params`` is the ``evaluation`` section plus ``champion_dir``.

    Returns ``(key metrics, blessed, reasons)``.
    """
    from components import plots
    from components.tasks.forecast_data import load_arrays
    from models import load_model

    with open(graph.path("params.json"), encoding="utf-8") as fh:
        p = fm.ForecastParams(**json.load(fh))
    pattern = split_pattern(examples.uri, "test")
    data = load_arrays(pattern, examples.properties)
    data["series"], data["times"] = _meta(pattern)
    windows = data["window"]
    model = load_model(model_path)
    forecast = fm.inverse(model.predict(data["x"], batch_size=1024, verbose=0), windows, p)
    naive = naive_forecast(windows, p.target_index, p.horizon)
    seasonal = seasonal_naive_forecast(windows, p.target_index, p.horizon, params["seasonal_period"])
    last = naive[:, 0]
    scores = {name: forecast_metrics(data["y_raw"], f, last, p.mase_scale)
              for name, f in (("model", forecast), ("naive", naive), ("seasonal_naive", seasonal))}
    candidates = ensemble.score_candidates(model_path, lambda m: forecast_metrics(
        data["y_raw"], fm.inverse(m.predict(data["x"], batch_size=1024, verbose=0), windows, p),
        last, p.mase_scale))
    if candidates:
        ctx.echo(ensemble.describe(candidates, ensemble.read_index(model_path), "mase"))
    version, champ = _champion_forecast(params["champion_dir"], windows, ctx)
    if champ is not None:
        scores["champion"] = forecast_metrics(data["y_raw"], champ, last, p.mase_scale)
    blessed, reasons = bless(scores["model"], scores["naive"], scores.get("champion"),
                             params["blessing"])
    beats = scores["model"]["mase"] < scores["naive"]["mase"]
    verdict = (f"model MASE {scores['model']['mase']:.4f} vs naive {scores['naive']['mase']:.4f}: "
               f"the model {'beats' if beats else 'does NOT beat'} the naive forecast")
    ctx.echo(verdict)

    os.makedirs(evaluation.uri, exist_ok=True)
    report = {"metrics": scores, "candidates": candidates, "test_windows": len(windows),
              "beats_naive": beats, "verdict": verdict, "champion_version": version}
    with open(evaluation.path("metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    _write_predictions(evaluation.path("predictions.csv"), data, forecast, naive)
    first = [i for i, s in enumerate(data["series"]) if s == data["series"][0]]
    title = f"Test split, 1-step-ahead {p.target_column}" + (f" ({data['series'][0]})" if data["series"][0] else "")
    times = [data["times"][i] for i in first]
    ctx.log_file(plots.forecast_vs_actual(times, data["y_raw"][first, 0], forecast[first, 0],
                                          naive[first, 0], evaluation.path("forecast_vs_actual.png"), title))
    ctx.log_file(plots.residuals(times, data["y_raw"][first, 0] - forecast[first, 0],
                                 evaluation.path("residuals.png")))
    for path in ("metrics.json", "predictions.csv"):
        ctx.log_file(evaluation.path(path))
    ctx.log_metrics({f"{who}_{k}": v for who, m in scores.items() for k, v in m.items()})
    ctx.log_metrics({f"candidate_{label}_{k}": v for label, m in candidates.items() for k, v in m.items()})
    evaluation.properties.update(metrics=scores, candidates=candidates, beats_naive=beats,
                                 test_windows=len(windows))
    key = {"mase": scores["model"]["mase"], "naive_mase": scores["naive"]["mase"],
           "mae": scores["model"]["mae"], "naive_mae": scores["naive"]["mae"]}
    return key, blessed, reasons
