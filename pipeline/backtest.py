"""Backtesting: the forecast pipeline evaluated at several cutoffs (rolling origin).

``evaluation.backtest.folds: N`` ends a run with N test blocks of the size of ``data.split.test``,
the newest last. Fold N is the run itself; each earlier fold is the same pipeline (ExampleGen to
Evaluator, with the Tuner off) run on the data up to its cutoff (``data.until``), so the model is
trained on everything before its test block and scored on that block only. The model's and every
baseline's MASE per fold, and their mean and spread, go to the console, to ``backtest.csv`` under
``<pipeline_root>/Backtest/<run id>/`` and to the run in MLflow (``backtest_<name>_mase`` with
the fold as the step, ``..._mean`` and ``..._std``).
"""
from __future__ import annotations

import copy
import csv
import json
import os

import numpy as np

from seqline.pipeline.errors import ConfigError


def fold_splits(split: dict, folds: int) -> list:
    """``[(until, split fractions within the data up to until)]`` for folds 1..N-1 (oldest first);
    each test block is ``split["test"]`` of the whole time range, as in the run itself."""
    out = []
    for j in range(1, folds):
        until = 1.0 - (folds - j) * split["test"]
        train = until - split["eval"] - split["test"]
        if train < 0.5 * split["train"] - 1e-9:
            most = int((1.0 - split["eval"] - 0.5 * split["train"]) / split["test"] + 1e-9)
            raise ConfigError(f"evaluation.backtest.folds: {folds} folds of data.split.test "
                              f"{split['test']} leave fold {j} less than half the train split; "
                              f"use at most {most} folds")
        out.append((until, {"train": train / until, "eval": split["eval"] / until,
                            "test": split["test"] / until}))
    return out


def fold_config(cfg: dict, fold: int, until: float, split: dict) -> dict:
    """The config of one earlier fold: its own pipeline root, data cut at ``until``, no Tuner, no
    champion to compare with, and no backtest of its own."""
    out = copy.deepcopy(cfg)
    root = os.path.join(cfg["pipeline_root"], "Backtest", f"fold-{fold}")
    out["name"] = f"{cfg['name']}-backtest-{fold}"
    out["pipeline_root"] = os.path.join(root, "pipeline")
    out["data"].update(until=until, split=split)
    out["tuning"] = None
    out["pusher"]["serving_dir"] = os.path.join(root, "serving")
    out["evaluation"]["backtest"]["folds"] = 0
    return out


def _fold_row(fold: int, until: float, report: dict) -> dict:
    """One fold's MASE figures (model, baselines, reference; not the champion's)."""
    mase = {name: m["mase"] for name, m in report["metrics"].items() if name != "champion"}
    best = report["best_baseline"]
    return {"fold": fold, "until": until, **mase, "best_baseline": best,
            "ratio_to_best": mase["model"] / mase[best]}


def _report(result) -> dict:
    with open(result.artifacts[("Evaluator", "evaluation")].path("metrics.json"),
              encoding="utf-8") as fh:
        return json.load(fh)


def summary(rows: list) -> dict:
    """``{column: (mean, std)}`` over the folds for every MASE column and the ratio."""
    columns = [k for k in rows[0] if k not in ("fold", "until", "best_baseline")]
    return {k: (float(np.mean([r[k] for r in rows if k in r])),
                float(np.std([r[k] for r in rows if k in r]))) for k in columns}


def _write_csv(rows: list, path: str) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def run(cfg: dict, result, run_pipeline, echo, **options) -> list:
    """Run folds 1..N-1 with ``run_pipeline`` (fold N is ``result``), report and log them;
    returns one row per fold."""
    import mlflow

    folds = cfg["evaluation"]["backtest"]["folds"]
    rows = []
    for j, (until, split) in enumerate(fold_splits(cfg["data"]["split"], folds), 1):
        fold = run_pipeline(fold_config(cfg, j, until, split), until="Evaluator", quiet=True,
                            **options)
        rows.append(_fold_row(j, until, _report(fold)))
        echo(_fold_line(rows[-1], folds))
    rows.append(_fold_row(folds, 1.0, _report(result)))
    echo(_fold_line(rows[-1], folds) + " (this run)")
    stats = summary(rows)
    for name, (mean, std) in stats.items():
        echo(f"    {name:<16} MASE {mean:.4f} +- {std:.4f}" if name != "ratio_to_best" else
             f"    model / best baseline {mean:.3f} +- {std:.3f} over {folds} folds")
    folder = os.path.join(cfg["pipeline_root"], "Backtest", result.run_id)
    os.makedirs(folder, exist_ok=True)
    _write_csv(rows, os.path.join(folder, "backtest.csv"))
    with mlflow.start_run(run_id=result.run_id):
        for row in rows:
            mlflow.log_metrics({_metric(k): v for k, v in row.items()
                                if k not in ("fold", "until", "best_baseline")}, step=row["fold"])
        mlflow.log_metrics({f"{_metric(k)}_{stat}": v for k, pair in stats.items()
                            for stat, v in zip(("mean", "std"), pair)})
        mlflow.log_artifact(os.path.join(folder, "backtest.csv"))
    return rows


def _metric(column: str) -> str:
    return "backtest_ratio_to_best" if column == "ratio_to_best" else f"backtest_{column}_mase"


def _fold_line(row: dict, folds: int) -> str:
    best = row["best_baseline"]
    return (f"backtest fold {row['fold']}/{folds} (the oldest {row['until']:.0%} of the time "
            f"range): model MASE {row['model']:.4f}, best baseline {best} {row[best]:.4f} "
            f"({row['ratio_to_best']:.2f}x)")
