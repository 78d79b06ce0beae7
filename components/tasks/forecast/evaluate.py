"""Forecast evaluation: test-split metrics in original units, next to baselines; the blessing.

Every baseline (naive, seasonal-naive, seasonal mean, drift, window mean) is scored on the same
windows, and the verdict and the blessing compare the model with the best of them. The statistical reference
(AutoETS, computed by the Transform) is scored and shown next to them; it enters the blessing only
with ``must_beat_reference``. The current champion (newest pushed version) is re-scored on the
same windows so the comparison is fair. With several series, each is also scored on its own MASE
scale (``per_series.csv``). A quantile model's intervals are scored next to the best baseline's
(:mod:`seqline.components.tasks.forecast.intervals`). Writes ``metrics.json``, ``predictions.csv``, ``per_series.csv``,
``forecast_vs_actual.png`` and ``residuals.png``.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np

from seqline.components import counted_predict, ensemble
from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast import intervals as fi
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.forecast.metrics import baseline_forecasts, forecast_metrics

REFERENCE = "auto_ets"


def _reference_forecast(data: dict, ctx):
    """The AutoETS forecasts of the test windows, or ``None`` (with the reason on the console)."""
    ref = data.pop("reference")
    if ref is None:
        return None
    missing = int((~np.isfinite(ref).all(axis=1)).sum())
    if missing:
        ctx.echo(f"AutoETS reference not scored: it could not be fitted for {missing} of "
                 f"{len(ref)} test windows (series too short or degenerate)")
        return None
    return ref


def reference_line(model: dict, reference: dict) -> str:
    """One line comparing the model with the statistical reference."""
    ratio = model["mase"] / reference["mase"]
    return (f"reference AutoETS MASE {reference['mase']:.4f}: the model is "
            f"{'better' if ratio < 1 else 'NOT better'} ({ratio:.2f}x)")


def _champion_forecast(champion_dir: str, windows: np.ndarray, ctx):
    """The newest pushed model's forecasts on ``windows``, or ``None`` if there is none."""
    from seqline.components import serving_export

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


def _rule(reasons: list, passed: bool, text: str) -> bool:
    reasons.append(text)
    return passed


def bless(model: dict, baselines: dict, champion: dict | None, rules: dict,
          reference: dict | None = None) -> tuple:
    """Apply the blessing rules to MASE figures; ``baselines`` maps each baseline's name to its
    metrics, ``reference`` holds the AutoETS metrics (``None`` if not computed). Returns
    ``(blessed, reasons)``."""
    reasons, ok, mase = [], True, model["mase"]
    if rules["max_mase"] is not None:
        ok &= _rule(reasons, mase < rules["max_mase"],
                    f"MASE {mase:.4f} {'<' if mase < rules['max_mase'] else '>='} max_mase "
                    f"{rules['max_mase']}")
    limit = rules["max_ratio_to_best_baseline"]
    if limit is not None:
        best = best_baseline(baselines)
        ratio = mase / baselines[best]["mase"]
        ok &= _rule(reasons, ratio <= limit,
                    f"MASE / best baseline ({best}) MASE = {ratio:.4f} "
                    f"{'<=' if ratio <= limit else '>'} max_ratio_to_best_baseline {limit}")
    limit = rules["max_ratio_to_naive"]
    if limit is not None:
        ratio = mase / baselines["naive"]["mase"]
        ok &= _rule(reasons, ratio <= limit,
                    f"MASE / naive MASE = {ratio:.4f} {'<=' if ratio <= limit else '>'} "
                    f"max_ratio_to_naive {limit}")
    if rules["must_beat_reference"] and reference is not None:
        ok &= _rule(reasons, mase < reference["mase"],
                    f"MASE {mase:.4f} {'<' if mase < reference['mase'] else '>='} reference "
                    f"(AutoETS) MASE {reference['mase']:.4f}")
    elif rules["must_beat_reference"]:
        ok &= _rule(reasons, False, "must_beat_reference: the reference was not computed")
    limit = rules["max_regression_vs_champion"]
    if champion is not None and limit is not None:
        bound = champion["mase"] * (1 + limit)
        ok &= _rule(reasons, mase <= bound,
                    f"MASE {mase:.4f} {'<=' if mase <= bound else '>'} champion "
                    f"{champion['mase']:.4f} x (1 + {limit})")
    if not reasons:
        reasons.append("no blessing rule applies (no threshold and no champion)")
    return bool(ok), reasons


def best_baseline(baselines: dict) -> str:
    """The name of the baseline with the lowest MASE."""
    return min(baselines, key=lambda name: baselines[name]["mase"])


TIE = 0.01   # within 1% of the best baseline's MASE the verdict is a tie, not a win


def verdict(model: dict, baselines: dict) -> tuple:
    """``(beats every baseline by more than TIE, one line comparing the model with the best
    baseline)``."""
    best = best_baseline(baselines)
    ratio = model["mase"] / baselines[best]["mase"]
    if ratio < 1 - TIE:
        words = f"beats every baseline ({1 - ratio:.0%} below the best)"
    elif ratio < 1 + TIE:
        words = f"ties the {best} forecast (within {TIE:.0%}): no real improvement"
    else:
        words = f"does NOT beat the {best} forecast"
    return ratio < 1 - TIE, (f"model MASE {model['mase']:.4f} vs best baseline {best} "
                             f"{baselines[best]['mase']:.4f} ({ratio:.2f}x): the model {words}")


def score_table(scores: dict) -> list:
    """Console lines: every forecaster's MASE, MAE, RMSE and sMAPE, best MASE first."""
    lines = [f"{'forecaster':<16}{'MASE':>9}{'MAE':>12}{'RMSE':>12}{'sMAPE %':>9}"]
    for name in sorted(scores, key=lambda n: scores[n]["mase"]):
        m = scores[name]
        lines.append(f"{name:<16}{m['mase']:>9.4f}{m['mae']:>12.5g}{m['rmse']:>12.5g}"
                     f"{m['smape']:>9.2f}")
    return lines


def _write_predictions(path, data, forecast, naive, quantiles=None, levels=()):
    """One row per test window: actual, forecast and naive values per step (and each quantile
    ``q<level>_<step>`` of a quantile model)."""
    horizon = forecast.shape[1]
    header = ["series_id", "target_time"] + [f"{k}{h + 1}" for k in ("actual", "forecast", "naive")
                                             for h in range(horizon)]
    if quantiles is not None:
        header += [f"q{q:g}_{h + 1}" for h in range(horizon) for q in levels]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(len(forecast)):
            extra = [] if quantiles is None else quantiles[i].ravel().tolist()
            writer.writerow([data["series"][i], data["times"][i], *data["y_raw"][i], *forecast[i],
                             *naive[i], *extra])


def _intervals(data: dict, quantiles, baselines: dict, best: str, examples, p, period: int,
               ctx) -> dict:
    """The model's interval scores and the baseline interval's: the ``best`` baseline widened
    by its error quantiles on the eval split (the train split if the eval split is empty)."""
    from seqline.components.tasks.forecast.data import load_arrays

    split = "eval" if examples.properties["split_counts"].get("eval") else "train"
    cal = load_arrays(split_pattern(examples.uri, split), examples.properties)
    cal_forecast = baseline_forecasts(cal["window"], p.target_index, p.horizon, period)[best]
    errors = fi.error_quantiles(cal["y_raw"], cal_forecast, p.levels)
    scores = {"model": fi.interval_scores(data["y_raw"], quantiles, p.levels, p.mase_scale),
              "baseline": {"name": best, "calibration_split": split, **fi.interval_scores(
                  data["y_raw"], fi.baseline_quantiles(baselines[best], errors), p.levels,
                  p.mase_scale)}}
    for line in fi.interval_lines(scores["model"], scores["baseline"]):
        ctx.echo(line)
    return scores


def _interval_metrics(intervals: dict) -> dict:
    """MLflow metrics: ``model_scaled_pinball``, ``model_coverage_80``, ``model_width_80`` and
    the same for ``baseline_interval``."""
    out = {}
    for who, key in (("model", "model"), ("baseline", "baseline_interval")):
        scores = intervals[who]
        out[f"{key}_scaled_pinball"] = scores["scaled_pinball"]
        for name, m in scores["intervals"].items():
            out[f"{key}_coverage_{name}"] = m["coverage"]
            out[f"{key}_width_{name}"] = m["width"]
    return out


def per_series(data: dict, forecasts: dict, p: fm.ForecastParams) -> dict:
    """``{series id: {forecaster: {"mase", "mae"}, "windows": n}}``, each series' MASE on its own
    train-split scale (as M4 scores every series)."""
    ids = np.asarray(data["series"])
    scales = p.series_mase_scale or {}
    out = {}
    for sid in sorted(set(data["series"])):
        rows = ids == sid
        scale = scales.get(sid) or p.mase_scale
        entry = {"windows": int(rows.sum())}
        for name, forecast in forecasts.items():
            mae = float(np.mean(np.abs(data["y_raw"][rows] - forecast[rows])))
            entry[name] = {"mae": mae, "mase": mae / scale}
        out[sid] = entry
    return out


def _write_per_series(path: str, table: dict, names: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["series_id", "test_windows"] + [f"{n}_{k}" for n in names
                                                         for k in ("mase", "mae")])
        for sid, entry in table.items():
            writer.writerow([sid, entry["windows"]] + [entry[n][k] for n in names
                                                       for k in ("mase", "mae")])


def _series_report(table: dict, names: list, p: fm.ForecastParams, ctx) -> dict:
    """Mean per-series MASE of every forecaster (the headline with several series); warns about
    series with no test window."""
    untested = sorted(set(p.series_mase_scale or {}) - set(table))
    if untested:
        ctx.echo(f"warning: {len(untested)} series have no test window (too short for lookback "
                 f"{p.lookback} + horizon {p.horizon} in the test split): "
                 f"{', '.join(untested[:5])}{' ...' if len(untested) > 5 else ''}")
    means = {n: float(np.mean([e[n]["mase"] for e in table.values()])) for n in names}
    baselines = [n for n in names if n not in ("model", REFERENCE)]
    beaten = sum(e["model"]["mase"] < min(e[n]["mase"] for n in baselines)
                 for e in table.values())
    ctx.echo(f"{len(table)} series: mean per-series MASE model {means['model']:.4f}, "
             + ", ".join(f"{n} {means[n]:.4f}" for n in names if n != "model")
             + f"; the model beats every baseline on {beaten} of {len(table)} series")
    return means


def evaluate(params: dict, examples, graph, model_path: str, evaluation, ctx) -> tuple:
    """Score the model; ``params`` is the ``evaluation`` section plus ``champion_dir``.

    Returns ``(key metrics, blessed, reasons)``.
    """
    from seqline.components import plots
    from seqline.components.tasks.forecast.data import load_arrays
    from seqline.models import load_model

    with open(graph.path("params.json"), encoding="utf-8") as fh:
        p = fm.ForecastParams(**json.load(fh))
    pattern = split_pattern(examples.uri, "test")
    data = load_arrays(pattern, examples.properties)
    windows = data["window"]
    model = load_model(model_path)
    outputs = counted_predict.predict(model, data["x"], 1024, "windows scored")
    forecast = fm.inverse(outputs, windows, p)
    quantiles = fm.inverse_quantiles(outputs, windows, p) if p.quantiles else None
    period = params["seasonal_period"]
    ctx.echo(f"seasonal period {period} ({params['seasonal_period_source']})")
    baselines = baseline_forecasts(windows, p.target_index, p.horizon, period)
    naive = baselines["naive"]
    last = naive[:, 0]
    forecasts = {"model": forecast, **baselines}
    reference = _reference_forecast(data, ctx)
    if reference is not None:
        forecasts[REFERENCE] = reference
    scores = {name: forecast_metrics(data["y_raw"], f, last, p.mase_scale)
              for name, f in forecasts.items()}
    candidates = ensemble.score_candidates(model_path, lambda m: forecast_metrics(
        data["y_raw"], fm.inverse(m.predict(data["x"], batch_size=1024, verbose=0), windows, p),
        last, p.mase_scale))
    if candidates:
        ctx.echo(ensemble.describe(candidates, ensemble.read_index(model_path), "mase"))
    for line in score_table(scores):
        ctx.echo(line)
    baseline_scores = {n: scores[n] for n in baselines}
    best = best_baseline(baseline_scores)
    version, champ = _champion_forecast(params["champion_dir"], windows, ctx)
    if champ is not None:
        scores["champion"] = forecast_metrics(data["y_raw"], champ, last, p.mase_scale)
    beats, line = verdict(scores["model"], baseline_scores)
    series_table = per_series(data, forecasts, p)
    series_means = (_series_report(series_table, list(forecasts), p, ctx)
                    if len(series_table) > 1 else None)
    blessed, reasons = bless(scores["model"], baseline_scores, scores.get("champion"),
                             params["blessing"], scores.get(REFERENCE))
    ctx.echo(line)
    if reference is not None:
        ctx.echo(reference_line(scores["model"], scores[REFERENCE]))
    intervals = (_intervals(data, quantiles, baselines, best, examples, p, period, ctx)
                 if p.quantiles else None)

    os.makedirs(evaluation.uri, exist_ok=True)
    report = {"metrics": scores, "candidates": candidates, "test_windows": len(windows),
              "seasonal_period": period, "best_baseline": best, "beats_best_baseline": beats,
              "beats_naive": scores["model"]["mase"] < scores["naive"]["mase"],
              "verdict": line, "champion_version": version, "model_base": p.base,
              "per_series_mean_mase": series_means, "intervals": intervals}
    with open(evaluation.path("metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    _write_predictions(evaluation.path("predictions.csv"), data, forecast, naive, quantiles,
                       p.levels)
    _write_per_series(evaluation.path("per_series.csv"), series_table, list(forecasts))
    first = [i for i, s in enumerate(data["series"]) if s == data["series"][0]]
    title = f"Test split, 1-step-ahead {p.target_column}" + (f" ({data['series'][0]})" if data["series"][0] else "")
    times = [data["times"][i] for i in first]
    band = None
    if intervals:
        lo, hi, nominal = fi.central_intervals(p.levels)[0]
        band = (quantiles[first, 0, lo], quantiles[first, 0, hi],
                f"model {fi.interval_name(nominal)}% interval")
    ctx.log_file(plots.forecast_vs_actual(times, data["y_raw"][first, 0], forecast[first, 0],
                                          baselines[best][first, 0],
                                          evaluation.path("forecast_vs_actual.png"), title,
                                          baseline_label=f"{best} (best baseline)",
                                          reference=None if reference is None
                                          else reference[first, 0], band=band))
    ctx.log_file(plots.residuals(times, data["y_raw"][first, 0] - forecast[first, 0],
                                 evaluation.path("residuals.png")))
    for path in ("metrics.json", "predictions.csv", "per_series.csv"):
        ctx.log_file(evaluation.path(path))
    ctx.log_metrics({f"{who}_{k}": v for who, m in scores.items() for k, v in m.items()})
    ctx.log_metrics({f"candidate_{label}_{k}": v for label, m in candidates.items() for k, v in m.items()})
    if series_means:
        ctx.log_metrics({f"{who}_mean_series_mase": v for who, v in series_means.items()})
    if intervals:
        ctx.log_metrics(_interval_metrics(intervals))
    evaluation.properties.update(metrics=scores, candidates=candidates, beats_naive=report["beats_naive"],
                                 beats_best_baseline=beats, best_baseline=best,
                                 test_windows=len(windows))
    key = {"mase": scores["model"]["mase"], "best_baseline": best,
           **{f"{n}_mase": scores[n]["mase"] for n in baselines}}
    if reference is not None:
        key[f"{REFERENCE}_mase"] = scores[REFERENCE]["mase"]
    if intervals:
        key["scaled_pinball"] = intervals["model"]["scaled_pinball"]
    return key, blessed, reasons
