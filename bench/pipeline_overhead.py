#!/usr/bin/env python
"""How much does the seqline pipeline cost over a plain script doing the same work?

Runs, in one process and in this order:

1. warm-up (not timed into either side): imports TensorFlow, Keras, Apache Beam (and its
   DirectRunner), MLflow, pandas and every seqline component module, then fits a tiny Keras model
   for one step so TF's first-use costs are paid by neither side;
2. the **plain script**: pandas reads the CSV, splits by time, computes the train-split scaling
   statistics and windows with ``seqline.components.tasks.forecast.numerics``, fits the same Keras model
   (``seqline.models.build_model``) on in-memory NumPy arrays, predicts the test windows and scores MAE in
   original units;
3. the **pipeline**: ``seqline.pipeline.runner.run_pipeline`` on the same config, with ``pipeline_root``,
   ``pusher.serving_dir`` and ``MLFLOW_TRACKING_URI`` pointed into a temporary folder (the tracking
   store is created there before timing starts, as a user's existing store would be).

Both sides train exactly ``--epochs`` epochs (default: the config's ``training.epochs``) with the same
seed, batch size, Adam learning rate, validation on the eval split and the same
``EarlyStopping(patience=epochs, restore_best_weights=True)``: early stopping can never fire, but the
best-epoch weights are restored in both, as the Trainer does. Both use the plain level model
(``transform.normalization: global``) without the AutoETS reference, which is what the plain
script implements.

Prints per-stage seconds, both totals, the ratio pipeline / plain against the 1.5x target
(PASS/MISS; the exit status is 0 either way) and the test MAE of both. The naive-forecast MAE and the
window counts must agree exactly between the two sides: they show both did the same data work.
The model MAEs agree only roughly (different shuffling order: tf.data vs Keras array batching).

Usage:
    .venv/bin/python bench/pipeline_overhead.py [--config examples/stock_forecast/pipeline.yaml]
                                                [--epochs N] [--keep]
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TARGET_RATIO = 1.5
PLAIN_PHASES = {  # plain-script phase doing the work of each pipeline stage
    "ExampleGen": "read CSV, sort, time split",
    "StatisticsGen": "(no equivalent: data validation)",
    "SchemaGen": "(no equivalent: data validation)",
    "ExampleValidator": "(no equivalent: data validation)",
    "Transform": "train stats, windows, scaling",
    "Trainer": "build + fit",
    "Evaluator": "predict + MAE",
    "Tuner": "(no equivalent: hyperparameter search)",
    "Compressor": "(disabled here: see compression.py)",
    "Pusher": "(no equivalent)",
}


def _quiet_libraries() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("apache_beam", "absl", "alembic", "mlflow", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("mlflow."):
            logging.getLogger(name).setLevel(logging.ERROR)


def warm_up(seed: int) -> float:
    """Import everything both sides use and run one tiny fit; returns the seconds it took."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_all()
    _quiet_libraries()   # MLflow resets its loggers on import
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    tiny = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(2), keras.layers.Dense(1)])
    tiny.compile(optimizer="adam", loss="mse")
    tiny.fit(np.zeros((8, 4, 2), "float32"), np.zeros((8, 1), "float32"), epochs=1, verbose=0)
    tiny.predict(np.zeros((8, 4, 2), "float32"), verbose=0)
    return time.perf_counter() - started


def _import_all() -> None:
    import apache_beam  # noqa: F401
    import apache_beam.runners.direct.direct_runner  # noqa: F401
    import apache_beam.runners.portability.fn_api_runner  # noqa: F401
    import keras  # noqa: F401
    import mlflow  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import pandas  # noqa: F401
    import tensorflow  # noqa: F401

    import seqline.components.evaluator  # noqa: F401
    import seqline.components.example_gen  # noqa: F401
    import seqline.components.mlflow_pyfunc  # noqa: F401
    import seqline.components.plots  # noqa: F401
    import seqline.components.pusher  # noqa: F401
    import seqline.components.serving_export  # noqa: F401
    import seqline.components.tasks.forecast.task  # noqa: F401
    import seqline.components.tasks.forecast.evaluate  # noqa: F401
    import seqline.components.tasks.forecast.graph  # noqa: F401
    import seqline.components.tasks.forecast.transform  # noqa: F401
    import seqline.components.tasks.forecast.example_gen  # noqa: F401
    import seqline.components.trainer  # noqa: F401
    import seqline.components.transform  # noqa: F401
    import seqline.components.tasks.forecast.data  # noqa: F401
    import seqline.models  # noqa: F401


# --------------------------------------------------------------------------------------------
# Plain script
# --------------------------------------------------------------------------------------------

def run_plain(cfg: dict) -> dict:
    """The pipeline's work as one in-process script; returns timings and scores."""
    import keras
    import numpy as np
    import pandas as pd

    from seqline.components.tasks.forecast import numerics as fm
    from seqline.components.tasks.feature_stats import scaling_stats
    from seqline.models import build_model

    data, tcfg, train_cfg = cfg["data"], cfg["transform"], cfg["training"]
    columns = list(data["feature_columns"])
    target = data["target_column"]
    series_col = data["series_id_column"]
    phases = {}

    # ExampleGen's work: read, parse times, order by time, drop duplicate timestamps, split.
    t0 = time.perf_counter()
    usecols = [data["time_column"], *columns] + ([series_col] if series_col else [])
    df = pd.read_csv(data["path"], usecols=usecols, dtype={c: "float64" for c in columns})
    fmt = data["time_format"] or "ISO8601"
    stamps = pd.to_datetime(df[data["time_column"]].str.strip(), format=fmt, utc=True)
    df["__ts"] = stamps.dt.as_unit("s").astype("int64")   # epoch seconds, like ExampleGen
    df["__series"] = df[series_col].astype(str).str.strip() if series_col else ""
    df = (df.sort_values(["__series", "__ts"], kind="stable")
          .drop_duplicates(["__series", "__ts"], keep="first"))
    # ExampleGen stores features as float32 (tf.train.Example float_list): round-trip the same way.
    values_all = df[columns].to_numpy(np.float32).astype(np.float64)
    ts_all = df["__ts"].to_numpy()
    distinct = np.unique(ts_all)
    n = len(distinct)
    fr = data["split"]
    n_train = max(1, int(round(n * fr["train"])))
    n_eval = int(round(n * fr["eval"]))
    n_train = min(n_train, n - 1) if n > 1 else n
    n_eval = min(n_eval, max(0, n - n_train - 1))
    t1 = distinct[n_train] if n_train < n else distinct[-1] + 1
    t2 = distinct[n_train + n_eval] if n_train + n_eval < n else distinct[-1] + 1
    split_all = np.where(ts_all < t1, "train", np.where(ts_all < t2, "eval", "test"))
    groups = [np.flatnonzero(df["__series"].to_numpy() == s) for s in df["__series"].unique()]
    phases["ExampleGen"] = time.perf_counter() - t0

    # Transform's work: train-split statistics, windows, scaling.
    t0 = time.perf_counter()
    lr = tcfg["log_returns"]
    log_returns = [bool(lr) if isinstance(lr, bool) else c in lr for c in columns]
    ti = columns.index(target)
    nf = len(columns)
    moments = {"count": np.zeros(nf), "sum": np.zeros(nf), "sumsq": np.zeros(nf),
               "min": np.full(nf, np.inf), "max": np.full(nf, -np.inf)}
    abs_step, steps = 0.0, 0
    for idx in groups:
        values, train = values_all[idx], split_all[idx] == "train"
        feats = fm.series_features(values, log_returns)[train]
        ok = np.isfinite(feats)
        moments["count"] += ok.sum(0)
        moments["sum"] += np.where(ok, feats, 0).sum(0)
        moments["sumsq"] += np.where(ok, feats ** 2, 0).sum(0)
        moments["min"] = np.minimum(moments["min"], np.where(ok, feats, np.inf).min(0, initial=np.inf))
        moments["max"] = np.maximum(moments["max"], np.where(ok, feats, -np.inf).max(0, initial=-np.inf))
        filled = fm.fill_missing(values[None, :, ti:ti + 1], axis=1)[0, :, 0]
        step = np.abs(np.diff(filled))[train[1:]]
        step = step[np.isfinite(step)]
        abs_step += float(step.sum())
        steps += len(step)
    center, scale = scaling_stats(moments, tcfg["scaling"])
    p = fm.ForecastParams(feature_columns=columns, target_column=target, log_returns=log_returns,
                          center=center, scale=scale, lookback=tcfg["lookback"],
                          horizon=tcfg["horizon"], mase_scale=max(abs_step / max(steps, 1), 1e-12))
    parts = {s: {"raw": [], "future": []} for s in ("train", "eval", "test")}
    for idx in groups:
        for split, _, raw, future in fm.make_windows(values_all[idx], list(split_all[idx]), p,
                                                     tcfg["stride"]):
            parts[split]["raw"].append(raw)
            parts[split]["future"].append(future)
    arrays = {}
    for split, got in parts.items():
        if not got["raw"]:
            arrays[split] = None
            continue
        raw = np.stack(got["raw"]).astype(np.float32)       # stored as float32 by the pipeline
        future = np.stack(got["future"]).astype(np.float32)
        arrays[split] = {"x": fm.transform_window(raw, p), "y": fm.transform_target(raw, future, p),
                         "window": raw, "y_raw": future}
    phases["Transform"] = time.perf_counter() - t0

    # Trainer's work: same model, optimizer, loss, epochs, batch size, early stopping, seed.
    t0 = time.perf_counter()
    keras.utils.set_random_seed(train_cfg["seed"])
    model = build_model(dict(cfg["model"]), (p.steps, nf), cfg["task"], p.horizon, name=cfg["name"])
    model.compile(optimizer=keras.optimizers.Adam(train_cfg["learning_rate"]), loss="mse",
                  metrics=["mae"])
    val = arrays["eval"]
    monitor = "val_loss" if val is not None else "loss"
    history = model.fit(
        arrays["train"]["x"], arrays["train"]["y"], batch_size=train_cfg["batch_size"],
        epochs=train_cfg["epochs"], shuffle=True, verbose=0,
        validation_data=(val["x"], val["y"]) if val is not None else None,
        callbacks=[keras.callbacks.EarlyStopping(
            monitor=monitor, patience=train_cfg["early_stopping_patience"],
            restore_best_weights=True)]).history
    phases["Trainer"] = time.perf_counter() - t0

    # Evaluator's work: forecasts in original units, MAE, naive MAE.
    t0 = time.perf_counter()
    test = arrays["test"]
    pred = model.predict(test["x"], batch_size=1024, verbose=0)
    forecast = fm.inverse(pred, test["window"], p)
    actual = test["y_raw"].astype(np.float64)
    mae = float(np.mean(np.abs(actual - forecast)))
    naive = fm.last_target(test["window"], p)[:, None]
    naive_mae = float(np.mean(np.abs(actual - naive)))
    phases["Evaluator"] = time.perf_counter() - t0

    return {"phases": phases, "total": sum(phases.values()), "mae": mae, "naive_mae": naive_mae,
            "mase": mae / p.mase_scale, "mase_scale": p.mase_scale,
            "epochs_run": len(history.get("loss", [])), "rows": len(df),
            "windows": {s: 0 if a is None else len(a["x"]) for s, a in arrays.items()}}


# --------------------------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------------------------

def run_seqline(cfg: dict, tmp: str) -> dict:
    """``run_pipeline`` with every output and the tracking store inside ``tmp``."""
    import mlflow

    from seqline.pipeline.runner import run_pipeline

    cfg["pipeline_root"] = os.path.join(tmp, "pipeline")
    cfg["pusher"]["serving_dir"] = os.path.join(tmp, "serving")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{os.path.join(tmp, 'mlflow.db')}"
    # Create the store (schema migrations) and the experiment before timing, with its artifacts in
    # tmp: a user's store already exists; without this MLflow would put artifacts in ./mlruns.
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.create_experiment(cfg["mlflow"]["experiment"],
                             artifact_location=f"file://{os.path.join(tmp, 'mlartifacts')}")
    started = time.perf_counter()
    result = run_pipeline(cfg, quiet=True)
    total = time.perf_counter() - started
    m = result.metrics
    return {"stages": dict(result.seconds), "total": total,
            "mae": m["Evaluator"]["mase"] * m["Transform"]["mase_scale"],
            "naive_mae": m["Evaluator"]["naive_mase"] * m["Transform"]["mase_scale"],
            "mase": m["Evaluator"]["mase"], "mase_scale": m["Transform"]["mase_scale"],
            "epochs_run": m["Trainer"]["epochs_run"], "blessed": m["Evaluator"]["blessed"],
            "pushed": m["Pusher"].get("pushed"),
            "rows": m["ExampleGen"]["rows"] - m["ExampleGen"]["quarantined"],
            "windows": {s: m["Transform"][f"{s}_windows"] for s in ("train", "eval", "test")}}


# --------------------------------------------------------------------------------------------

def _table(cfg_path: str, epochs: int, warm: float, plain: dict, seq: dict) -> str:
    lines = [f"seqline pipeline overhead: {cfg_path}, {epochs} epochs (early stopping off), "
             f"same process, order: warm-up, plain, pipeline",
             f"warm-up (imports + tiny fit, not counted): {warm:.1f}s", ""]
    head = f"{'stage':<24}{'pipeline s':>12}   {'plain s':>9}  plain phase"
    lines += [head, "-" * len(head)]
    from seqline.pipeline.config_fields import STAGES

    for stage in [s for s in STAGES if s in seq["stages"]]:
        p_s = plain["phases"].get(stage)
        lines.append(f"{stage:<24}{seq['stages'].get(stage, float('nan')):>12.2f}   "
                     f"{'-' if p_s is None else f'{p_s:.2f}':>9}  {PLAIN_PHASES.get(stage, '(no equivalent)')}")
    outside = seq["total"] - sum(seq["stages"].values())
    lines.append(f"{'(outside stages)':<24}{outside:>12.2f}   {'-':>9}  "
                 "MLflow parent run, DAG, setup")
    lines.append("-" * len(head))
    lines.append(f"{'total':<24}{seq['total']:>12.2f}   {plain['total']:>9.2f}")
    ratio = seq["total"] / plain["total"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    lines.append(f"ratio pipeline / plain: {ratio:.2f}x  (target <= {TARGET_RATIO}x)  {verdict}")
    lines.append("")
    lines.append(f"{'same work?':<24}{'pipeline':>12}   {'plain':>9}")
    lines.append(f"{'test MAE (model)':<24}{seq['mae']:>12.4f}   {plain['mae']:>9.4f}")
    lines.append(f"{'test MAE (naive)':<24}{seq['naive_mae']:>12.4f}   {plain['naive_mae']:>9.4f}")
    lines.append(f"{'test MASE (model)':<24}{seq['mase']:>12.4f}   {plain['mase']:>9.4f}")
    lines.append(f"{'epochs run':<24}{seq['epochs_run']:>12}   {plain['epochs_run']:>9}")
    lines.append(f"{'rows kept':<24}{seq['rows']:>12}   {plain['rows']:>9}")
    for s in ("train", "eval", "test"):
        lines.append(f"{s + ' windows':<24}{seq['windows'][s]:>12}   {plain['windows'][s]:>9}")
    lines.append(f"pipeline: blessed={seq['blessed']} pushed={seq['pushed']}")
    same = (seq["windows"] == plain["windows"] and seq["rows"] == plain["rows"]
            and abs(seq["naive_mae"] - plain["naive_mae"]) <= 1e-6 * max(1.0, seq["naive_mae"]))
    if not same:
        lines.append("WARNING: rows, windows or naive MAE differ: the two sides did not see the same "
                     "data")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "examples", "stock_forecast",
                                                         "pipeline.yaml"))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for both sides (default: the config's training.epochs)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    _quiet_libraries()

    from seqline.pipeline.config import load_config

    cfg_plain = load_config(args.config)
    cfg_seq = load_config(args.config)
    epochs = args.epochs or cfg_plain["training"]["epochs"]
    if epochs < 1:
        parser.error("--epochs must be at least 1")
    for cfg in (cfg_plain, cfg_seq):
        cfg["training"]["epochs"] = epochs
        cfg["training"]["early_stopping_patience"] = epochs   # can never fire within `epochs`
        # The plain script is a level model on globally scaled data: measure the pipeline's
        # overhead on the same model, not on the window-relative default.
        cfg["transform"]["normalization"] = "global"
        cfg["evaluation"]["reference"] = "none"   # nor does it fit the AutoETS reference
    cfg_seq["compression"]["enabled"] = False   # the plain script does not compress either

    warm = warm_up(cfg_plain["training"]["seed"])
    tmp = tempfile.mkdtemp(prefix="seqline-bench-")
    cwd = os.getcwd()
    saved_uri = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        os.chdir(tmp)   # nothing either side writes may land in the user's folder
        plain = run_plain(cfg_plain)
        seq = run_seqline(cfg_seq, tmp)
    finally:
        os.chdir(cwd)
        if saved_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_uri
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    print(_table(os.path.relpath(args.config, cwd), epochs, warm, plain, seq))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
