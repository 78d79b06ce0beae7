"""Forecast Transform: full-pass analyzers on the train split, windowing, the transform graph.

Outputs
    transform_graph: ``graph/`` (TF SavedModel with ``transform`` / ``inverse`` signatures),
        ``params.json`` (the statistics it embeds) and ``data_checks.json`` (each series' train
        and test target range and time-step facts, behind the warnings it prints).
    transformed_examples: ``Split-<split>-*.tfrecord.gz`` with each series' windows as
        segments (stretches of its raw rows and where its windows end, see
        :mod:`~seqline.components.tasks.forecast.segments`; in test segments also the
        statistical reference's forecasts ``reference/auto_ets``), and ``window_params.json``
        (the fitted transform the readers cut the windows with).
"""
from __future__ import annotations

import json
import os
from typing import NamedTuple

import apache_beam as beam
import numpy as np

from seqline.components.beam_outputs import every_output
from seqline.components.exact_sum import exact
from seqline.components.split_io import (PARTS, SPLITS, SaveSplitCounts, WriteSplitRuns,
                                         finish_splits, read_part, split_files, split_pattern,
                                         stage_part)
from seqline.components.tasks.forecast import linear_base, numerics as fm, segments
from seqline.components.tasks.feature_stats import MomentsFn, scaling_stats
from seqline.components.tasks.forecast.codec import read_decoded
from seqline.pipeline.errors import DataError


def log_return_mask(log_returns, columns) -> list:
    """``transform.log_returns`` (true/false or a list of columns) as one bool per column."""
    return [bool(log_returns) if isinstance(log_returns, bool) else c in log_returns for c in columns]


class ForecastMomentsFn(MomentsFn):
    """Feature moments plus the target's mean absolute step (the MASE scale) and, per split
    (train, eval), the absolute errors of each candidate base forecast over the horizon and,
    given ``window`` (lookback, horizon) for the linear base, the windows' moments."""

    def __init__(self, n_features: int, bases: list, window: tuple | None = None):
        super().__init__(n_features)
        errors = [f"{split}/{base}" for split in ("train", "eval") for base in bases]
        self.EXACT = ("abs_step",) + tuple(f"{e}_error" for e in errors)
        self.COUNTS = ("steps",) + tuple(f"{e}_count" for e in errors)
        self.window = window

    def create_accumulator(self):
        moments = ({split: linear_base.empty_moments(*self.window) for split in ("train", "eval")}
                   if self.window else {})
        return {**super().create_accumulator(), **{k: 0 for k in self.COUNTS},
                "window_moments": moments}

    def add_input(self, acc, item):
        feats, steps, errors, moments = item
        acc = super().add_input(acc, feats)
        acc["abs_step"] += exact(np.abs(steps).sum())
        acc["steps"] += len(steps)
        for name, (total, count) in errors.items():
            acc[f"{name}_error"] += exact(total)
            acc[f"{name}_count"] += count
        acc["window_moments"] = {split: linear_base.add_moments(m, moments[split])
                                 for split, m in acc["window_moments"].items()}
        return acc

    def merge_accumulators(self, accs):
        accs = list(accs)
        out = super().merge_accumulators(accs)
        for k in self.COUNTS:
            out[k] = sum(a[k] for a in accs)
        for a in accs:
            out["window_moments"] = {split: linear_base.add_moments(m, a["window_moments"][split])
                                     for split, m in out["window_moments"].items()}
        return out


class Series(NamedTuple):
    """One series in time order: its rows' times (ISO text), timestamps, values ``[N, F]`` and
    splits."""

    series_id: str
    times: list
    stamps: np.ndarray
    values: np.ndarray
    splits: list


def _series_chunks(batch: tuple):
    """``(split, rows of read_decoded)`` -> ``(series id, (split, stamps, times, values))`` per
    series in the batch."""
    split, rows = batch
    ids, inverse = np.unique(rows["series_id"], return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    for series_id, pick in zip(ids, np.split(order, np.cumsum(np.bincount(inverse))[:-1])):
        yield series_id.decode(), (split, rows["timestamp"][pick], rows["time"][pick],
                                   rows["values"][pick])


def _series(item) -> Series:
    """``(series id, [chunk of _series_chunks, ...])`` -> the :class:`Series`, rows by time."""
    series_id, chunks = item
    chunks = sorted(chunks, key=lambda c: (int(c[1][0]), c[0]))
    stamps = np.concatenate([c[1] for c in chunks])
    order = np.argsort(stamps, kind="stable")
    splits = np.concatenate([np.full(len(c[1]), c[0]) for c in chunks])[order]
    times = np.concatenate([c[2] for c in chunks])[order]
    values = np.concatenate([c[3] for c in chunks])[order]
    return Series(series_id, [t.decode() for t in times], stamps[order], values, splits.tolist())


def _read_series(p, uri: str, columns: list):
    """Every :class:`Series` of the examples under ``uri``: read and decoded in batches, one
    element per series and batch crossing the shuffle."""
    return (p | "Files" >> beam.Create(split_files(uri))
            | "Read" >> beam.FlatMap(read_decoded, columns)
            | "Chunks" >> beam.FlatMap(_series_chunks)
            | "Group" >> beam.GroupByKey()
            | "Series" >> beam.Map(_series))


def fit_windows(target: np.ndarray, splits: list, lookback: int, horizon: int) -> dict:
    """``{split: (windows [N, lookback], futures [N, horizon])}`` of one series' target, for the
    windows whose first target lies in the train or eval split (any with a missing value left
    out)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if len(target) < lookback + horizon:
        empty = (np.zeros((0, lookback)), np.zeros((0, horizon)))
        return {"train": empty, "eval": empty}
    windows = sliding_window_view(target, lookback)[:len(target) - lookback - horizon + 1]
    future = sliding_window_view(target[lookback:], horizon)
    ok = np.isfinite(windows).all(1) & np.isfinite(future).all(1)
    first = np.asarray(splits[lookback:len(target) - horizon + 1])
    return {split: (windows[ok & (first == split)], future[ok & (first == split)])
            for split in ("train", "eval")}


def base_errors(sets: dict, lookback: int, horizon: int, period: int, bases: list) -> dict:
    """``{"<split>/<base>": (sum, count)}`` of the absolute errors of each candidate base forecast
    over the windows of :func:`fit_windows`."""
    out = {}
    for base in bases:
        weights = fm.base_weights(base, lookback, horizon, period)
        for split, (windows, future) in sets.items():
            error = np.abs(windows @ weights - future)
            out[f"{split}/{base}"] = (float(error.sum()), error.size)
    return out


def _train_stats_input(series, log_returns, target_index, window: dict):
    """What one series contributes to the analyzers: feature moments and steps of its train
    rows, the errors of the candidate bases on its train and eval windows and, when
    ``window["linear"]``, those windows' moments for the linear base."""
    values, splits = series.values, series.splits
    train = np.array([s == "train" for s in splits])
    feats = fm.series_features(values, log_returns)
    target = fm.fill_missing(values[None, :, target_index:target_index + 1], axis=1)[0, :, 0]
    step = np.abs(np.diff(target))[train[1:]]
    L, H = window["lookback"], window["horizon"]
    sets = fit_windows(values[:, target_index], splits, L, H)
    errors = base_errors(sets, L, H, window["seasonal_period"], window["bases"])
    moments = ({split: linear_base.window_moments(*pair) for split, pair in sets.items()}
               if window["linear"] else {})
    return feats[train], step[np.isfinite(step)], errors, moments


def _series_scale(series, target_index) -> tuple:
    """``(series id, mean |y_t - y_{t-1}| of its train-split target)``: its own MASE scale."""
    series_id, values, splits = series.series_id, series.values, series.splits
    target = fm.fill_missing(values[None, :, target_index:target_index + 1], axis=1)[0, :, 0]
    train = np.array([s == "train" for s in splits])
    steps = np.abs(np.diff(target))[train[1:]]
    steps = steps[np.isfinite(steps)]
    return series_id, float(np.mean(steps)) if len(steps) else None


def choose_base(acc: dict, bases: list) -> dict:
    """``{"base", "split", "mae"}``: the candidate with the lowest MAE on the eval windows (on the
    train windows when there are none); a tie keeps the simpler one (earlier in ``bases``)."""
    split = "eval" if acc[f"eval/{bases[0]}_count"] else "train"
    mae = {b: acc[f"{split}/{b}_error"] / acc[f"{split}/{b}_count"]
           for b in bases if acc[f"{split}/{b}_count"]}
    return {"base": min(mae, key=mae.get) if mae else "naive", "split": split, "mae": mae}


def _params(acc, base: dict, scaling: str, series_scales: dict) -> dict:
    if acc["steps"] == 0:
        raise DataError("Transform: the train split has too few rows to compute statistics")
    center, scale = scaling_stats(acc, scaling)
    _, std = scaling_stats(acc, "standard")
    chosen = choose_base(acc, fm.candidate_bases(base["lookback"], base["seasonal_period"]))
    selection = {"split": chosen["split"], "mae": chosen["mae"]}
    params = {**base, "center": center, "scale": scale,
              "mase_scale": max(acc["abs_step"] / acc["steps"], 1e-12),
              "spread_floor": [0.1 * s for s in std],
              "base": chosen["base"] if base["normalization"] == "window" else "none",
              "series_mase_scale": dict(sorted(series_scales.items())),
              "base_selection": selection}
    if acc["window_moments"] and params["base"] != "none":
        fixed = fm.base_weights(chosen["base"], base["lookback"], base["horizon"],
                                base["seasonal_period"])
        linear = linear_base.fit(acc["window_moments"]["train"], acc["window_moments"]["eval"],
                                 fixed)
        if linear:
            selection["linear"] = {"fixed": chosen["base"], "shrinkage": linear["shrinkage"],
                                   "mse": linear["mse"]}
            if min(linear["mse"].values()) < linear["mse"]["fixed"]:
                params.update(base="linear", linear_weights=linear["weights"].tolist())
    return params


def _reference(values, splits, ends, p: fm.ForecastParams) -> np.ndarray:
    """``[len(ends), H]``: the AutoETS forecasts of one series' test windows (ending at
    ``ends``); NaN where the series cannot be fitted (too short, degenerate)."""
    from seqline.components.tasks.forecast.reference import auto_ets

    n_train = sum(s == "train" for s in splits)
    target = fm.fill_missing(values[None, :, p.target_index:p.target_index + 1], axis=1)[0, :, 0]
    out = np.full((len(ends), p.horizon), np.nan)
    if len(ends) and n_train >= 4 and np.isfinite(target).all():
        try:
            out = auto_ets(target, n_train, ends.tolist(), p.horizon, p.seasonal_period)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            pass                                 # reported by the Evaluator as not available
    return out


def _encode_segments(series, params: dict, stride: int, reference: str) -> list:
    """``(split, series id, [serialized segment, ...], windows)`` per split: one series' windows
    as :mod:`~seqline.components.tasks.forecast.segments` in time order (a run of
    :class:`~seqline.components.split_io.WriteSplitRuns`); test segments also carry the
    ``reference/auto_ets`` forecasts when ``reference`` asks for them."""
    p = fm.ForecastParams(**params)
    ends = segments.window_ends(series.values, p, stride)
    if not len(ends):
        return []
    splits = np.asarray(series.splits)[ends + 1]
    ref = (_reference(series.values, series.splits, ends[splits == "test"], p)
           if reference == "auto_ets" else None)
    runs = segments.encode_segments(series.series_id, series.values, series.times, ends, splits,
                                    p, ref)
    return [(split, series.series_id, run, int((splits == split).sum()))
            for split, run in runs.items()]


def base_line(p: fm.ForecastParams) -> str:
    """One line: the base the window-relative model corrects, and why."""
    chosen = p.base_selection
    mae = ", ".join(f"{b.replace('_', '-')} {v:.4g}" for b, v in chosen["mae"].items())
    seasons = p.lookback // p.seasonal_period
    mean = f"; seasonal-mean of {seasons} seasons" if "seasonal_mean" in chosen["mae"] else ""
    linear = chosen.get("linear")
    if linear:
        fitted = linear["mse"][f"{linear['shrinkage']:g}"]
        mean += (f"; linear fit on the train windows: eval MSE {fitted:.4g} in window units "
                 f"against {linear['mse']['fixed']:.4g} for {linear['fixed'].replace('_', '-')}")
    return (f"window-relative model: it forecasts a correction to the {p.base.replace('_', '-')} "
            f"forecast ({chosen['split']}-split MAE: {mae}; period {p.seasonal_period}{mean})")


def quantile_offsets(transformed, p: fm.ForecastParams, count: int) -> list:
    """``[H * Q]`` step-major: where a quantile model's outputs start (the head's bias), each
    level's train-split quantile of the target minus the median's. An untrained model then
    forecasts the base (its median) inside an interval as wide as the base's train errors."""
    from seqline.components.tasks.forecast.data import target_quantiles

    q = target_quantiles(split_pattern(transformed.uri, "train"), transformed.properties,
                         p.levels, count)
    return (q - q[:, [p.levels.index(0.5)]]).ravel().tolist()


def _write_json(obj, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)


def run_transform(params: dict, examples, graph, transformed, ctx) -> dict:
    """Analyze, window and write; ``params`` holds the ``transform`` section and
    ``target_column``. Returns key metrics."""
    from seqline.components.tasks.forecast import checks as forecast_checks, graph as forecast_graph

    columns = examples.properties["feature_columns"]
    if params["target_column"] not in columns:
        raise DataError(f"Transform: target '{params['target_column']}' not among {columns}")
    os.makedirs(graph.uri, exist_ok=True)
    params = {**params, "log_returns": log_return_mask(params["log_returns"], columns)}
    base = {"feature_columns": columns, "target_column": params["target_column"],
            "log_returns": params["log_returns"], "lookback": params["lookback"],
            "horizon": params["horizon"], "normalization": params["normalization"],
            "seasonal_period": params["seasonal_period"], "quantiles": params.get("quantiles")}
    target_index = columns.index(params["target_column"])
    bases = fm.candidate_bases(params["lookback"], params["seasonal_period"])
    linear = (params["linear_base"] and params["normalization"] == "window"
              and not params["log_returns"][target_index])
    counts_path = graph.path("window_counts.json")
    facts_path = graph.path("data_checks.json")
    staged_path = os.path.join(transformed.uri, PARTS, "series.json")
    os.makedirs(os.path.dirname(staged_path), exist_ok=True)
    with beam.Pipeline(options=ctx.beam_options()) as p:
        series = _read_series(p, examples.uri, columns)
        facts = (series | "Facts" >> beam.Map(forecast_checks.series_facts, target_index)
                 | "AllFacts" >> beam.combiners.ToList()
                 | "SaveFacts" >> beam.Map(_write_json, facts_path))
        fitted = (series
                  | "TrainRows" >> beam.Map(_train_stats_input, params["log_returns"], target_index,
                                           {**base, "bases": bases, "linear": linear})
                  | "Analyze" >> beam.CombineGlobally(ForecastMomentsFn(
                      len(columns), bases, (params["lookback"], params["horizon"]) if linear
                      else None))
                  | "Params" >> beam.Map(_params, base, params["scaling"], beam.pvalue.AsSingleton(
                      series | "SeriesScales" >> beam.Map(_series_scale, target_index)
                      | "ScalesByid" >> beam.combiners.ToDict())))
        saved = fitted | "SaveParams" >> beam.Map(_write_json, graph.path("params.json"))
        staged = (series | "StageSeries" >> beam.Map(
                      lambda s: stage_part(transformed.uri, ("series", s.series_id), s))
                  | "AllStaged" >> beam.combiners.ToList()
                  | "SaveStaged" >> beam.Map(lambda paths: _write_json(sorted(paths), staged_path)))
        every_output(facts, saved, staged)
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        fitted_params = json.load(fh)
    with open(staged_path, encoding="utf-8") as fh:
        staged_series = json.load(fh)
    # a second pipeline takes the fitted parameters as a plain argument (a side input computed
    # from the same data was computed from other rows on the Dask runner) and reads the series
    # the first one grouped from their part files
    with beam.Pipeline(options=ctx.beam_options()) as p:
        runs = (p | "Staged" >> beam.Create(staged_series)
                | "Series" >> beam.Map(read_part)
                | "Segments" >> beam.FlatMap(_encode_segments, fitted_params, params["stride"],
                                             params["reference"]))
        written = (runs | "Runs" >> beam.Map(lambda run: run[:3])
                   | "Write" >> WriteSplitRuns(transformed.uri))
        counted = (runs | "Windows" >> beam.Map(lambda run: (run[0], run[3]))
                   | "SaveCounts" >> SaveSplitCounts(counts_path))
        every_output(written, counted)
    finish_splits(transformed.uri)
    _write_json(fitted_params, transformed.path(segments.PARAMS_FILE))
    fitted_params = fm.ForecastParams(**fitted_params)
    with open(counts_path, encoding="utf-8") as fh:
        found = json.load(fh)
    counts = {s: found.get(s, 0) for s in SPLITS}
    if counts["train"] == 0 or counts["test"] == 0:
        raise DataError(f"Transform: no {'train' if not counts['train'] else 'test'} windows of "
                        f"lookback {params['lookback']} + horizon {params['horizon']}; "
                        "lower transform.lookback or add data")
    with open(facts_path, encoding="utf-8") as fh:
        warnings = forecast_checks.warnings(json.load(fh), params["target_column"])
    for line in warnings:
        ctx.echo(line)
    if warnings:
        ctx.log_text("\n".join(warnings) + "\n", "data_warnings.txt")
    forecast_graph.save(fitted_params, graph.path("graph"))
    if fitted_params.quantiles:
        transformed.properties["quantile_offsets"] = quantile_offsets(
            transformed, fitted_params, counts["train"])
    shape = {"steps": fitted_params.steps, "n_features": len(columns),
             "horizon": fitted_params.horizon, "lookback": fitted_params.lookback,
             "normalization": fitted_params.normalization, "base": fitted_params.base,
             "reference": params["reference"], "quantiles": fitted_params.quantiles}
    if fitted_params.base != "none":
        ctx.echo(base_line(fitted_params))
    graph.properties.update(task="forecast", **shape)
    transformed.properties.update(split_names=list(SPLITS), split_counts=counts, **shape)
    return {**{f"{s}_windows": n for s, n in counts.items()}, "mase_scale": fitted_params.mase_scale,
            "data_warnings": len(warnings)}
