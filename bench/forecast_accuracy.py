#!/usr/bin/env python
"""How good are the default forecast models? Every forecast example, one table.

Runs each ``examples/*/pipeline.yaml`` whose task is ``forecast`` as it ships (same model, epochs
and splits), with its outputs and MLflow store in a temporary folder and compression off (it does
not change the float model's accuracy). Prints, per example, the test MASE of the model, of every
baseline the Evaluator computes and of the AutoETS reference, the model's ratio to the best
baseline (the bar: the target is at most 0.9x) and to AutoETS, and the pipeline's seconds.
``--set key=value`` changes a config key in every example before validation (the value is YAML),
e.g. ``--set model.quantiles=[0.1,0.9]``; a quantile model adds a table of interval coverage,
width and scaled pinball loss next to the baseline interval's.

Usage:
    .venv/bin/python bench/forecast_accuracy.py [--examples stock_forecast,air_passengers_forecast]
                                                [--epochs N] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
TARGET = 0.9
BASELINES = ("naive", "seasonal_naive", "seasonal_mean", "drift", "window_mean")


def forecast_examples(names: list | None) -> list:
    """``[(name, config path)]`` of the shipped forecast examples, or of ``names``."""
    import yaml

    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*", "pipeline.yaml"))):
        name = os.path.basename(os.path.dirname(path))
        with open(path, encoding="utf-8") as fh:
            if yaml.safe_load(fh).get("task") == "forecast" and (not names or name in names):
                found.append((name, path))
    missing = set(names or ()) - {n for n, _ in found}
    if missing:
        raise SystemExit(f"not a forecast example: {', '.join(sorted(missing))}")
    return found


def changed_config(path: str, settings: list) -> dict:
    """The validated config at ``path`` with each ``key=value`` of ``settings`` applied first."""
    import yaml

    from seqline.pipeline.config import validate_config

    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    for setting in settings:
        key, _, value = setting.partition("=")
        *sections, last = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = yaml.safe_load(value)
    return validate_config(raw, os.path.dirname(os.path.abspath(path)))


def run_example(path: str, tmp: str, epochs: int | None, settings: list = ()) -> dict:
    """Run one example's pipeline inside ``tmp``; its Evaluator's metrics and the seconds."""
    import mlflow

    from seqline.pipeline.runner import run_pipeline

    cfg = changed_config(path, settings)
    cfg["pipeline_root"] = os.path.join(tmp, "pipeline")
    cfg["pusher"]["serving_dir"] = os.path.join(tmp, "serving")
    cfg["pusher"]["edge_dir"] = os.path.join(tmp, "edge")
    cfg["compression"]["enabled"] = False
    if epochs:
        cfg["training"]["epochs"] = epochs
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{os.path.join(tmp, 'mlflow.db')}"
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])   # artifacts in tmp, not ./mlruns
    mlflow.create_experiment(cfg["mlflow"]["experiment"],
                             artifact_location=f"file://{os.path.join(tmp, 'mlartifacts')}")
    started = time.perf_counter()
    result = run_pipeline(cfg, quiet=True)
    seconds = time.perf_counter() - started
    with open(result.artifacts[("Evaluator", "evaluation")].path("metrics.json"),
              encoding="utf-8") as fh:
        report = json.load(fh)
    return {"mase": {k: v["mase"] for k, v in report["metrics"].items()},
            "best": report["best_baseline"], "seconds": seconds,
            "horizon": cfg["transform"]["horizon"], "period": report["seasonal_period"],
            "intervals": report.get("intervals")}


def table(rows: dict) -> str:
    """The results as a fixed-width table, one line per example."""
    head = (f"{'example':<24}{'H':>4}{'m':>4}{'model':>8}" + "".join(f"{b:>16}" for b in BASELINES)
            + f"{'auto_ets':>10}{'vs best':>9}{'vs ETS':>8}{'seconds':>9}  verdict")
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        m = r["mase"]
        ratio = m["model"] / m[r["best"]]
        ets = m.get("auto_ets")
        verdict = "PASS" if ratio <= TARGET else "MISS"
        lines.append(f"{name:<24}{r['horizon']:>4}{r['period']:>4}{m['model']:>8.3f}"
                     + "".join(f"{m[b]:>16.3f}" if b in m else f"{'-':>16}" for b in BASELINES)
                     + (f"{ets:>10.3f}{ratio:>9.2f}{m['model'] / ets:>8.2f}" if ets else
                        f"{'-':>10}{ratio:>9.2f}{'-':>8}")
                     + f"{r['seconds']:>9.1f}  {verdict} (best baseline: {r['best']})")
    lines.append(f"MASE on the test split (lower is better); H horizon, m seasonal period "
                 f"('-': not computed, e.g. no season); 'vs best' is model / best baseline, "
                 f"target <= {TARGET}x; 'vs ETS' is model / AutoETS")
    return "\n".join(lines)


def interval_table(rows: dict) -> str:
    """Coverage and width of every central interval and the scaled pinball loss, model next to
    the baseline interval (the best baseline plus its eval-split error quantiles)."""
    lines = [f"{'example':<24}{'interval':>9}{'coverage':>10}{'baseline':>10}{'width':>11}"
             f"{'baseline':>11}{'pinball':>9}{'baseline':>10}{'ratio':>7}"]
    lines.append("-" * len(lines[0]))
    for name, r in rows.items():
        model, base = r["intervals"]["model"], r["intervals"]["baseline"]
        for key, m in model["intervals"].items():
            b = base["intervals"][key]
            lines.append(f"{name:<24}{key + '%':>9}{m['coverage']:>10.1%}{b['coverage']:>10.1%}"
                         f"{m['width']:>11.4g}{b['width']:>11.4g}{model['scaled_pinball']:>9.3f}"
                         f"{base['scaled_pinball']:>10.3f}"
                         f"{model['scaled_pinball'] / base['scaled_pinball']:>7.2f}")
    lines.append("coverage: share of test values inside the interval (the nominal level is "
                 "calibrated); width: mean, original units; pinball: scaled pinball loss "
                 "(lower is better), ratio: model / baseline")
    return "\n".join(lines)


def main(argv=None) -> int:
    from seqline.pipeline.errors import ConfigError

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default="", help="comma-separated example folder names")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every example's training.epochs (default: as shipped)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a config key in every example, e.g. "
                             "training.lr_schedule=cosine (repeatable)")
    args = parser.parse_args(argv)
    names = [n for n in args.examples.split(",") if n]
    rows = {}
    for name, path in forecast_examples(names):
        tmp = tempfile.mkdtemp(prefix=f"seqline-accuracy-{name}-")
        try:
            rows[name] = run_example(path, tmp, args.epochs, args.set)
        except ConfigError as exc:       # e.g. a --set value this example's config cannot take
            print(f"{name}: not run: {exc}", flush=True)
            continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{name}: model MASE {rows[name]['mase']['model']:.3f} "
              f"({rows[name]['seconds']:.0f} s)", flush=True)
    print(table(rows))
    if rows and all(r["intervals"] for r in rows.values()):
        print(interval_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
