"""Backtesting: folds at earlier cutoffs, each trained on its past and scored on its own block."""
import csv
import json
import os

import pytest

from seqline.components.tasks import csv_records as cr
from seqline.pipeline.backtest import fold_splits, summary
from seqline.pipeline.errors import ConfigError
from tests.forecast_fixtures import forecast_config, msft_slice


def test_each_fold_ends_one_test_block_earlier_with_blocks_of_the_run_size():
    split = {"train": 0.7, "eval": 0.1, "test": 0.1}
    folds = fold_splits(split, 3)
    assert [round(u, 6) for u, _ in folds] == [0.8, 0.9]
    for until, fractions in folds:
        assert sum(fractions.values()) == pytest.approx(1.0)
        assert fractions["test"] * until == pytest.approx(0.1)       # same block size as the run
        assert fractions["eval"] * until == pytest.approx(0.1)
        assert fractions["train"] * until == pytest.approx(until - 0.2)


def test_too_many_folds_is_a_config_error_that_says_how_many_fit(tmp_path):
    with pytest.raises(ConfigError, match="use at most 2 folds"):
        fold_splits({"train": 0.7, "eval": 0.1, "test": 0.2}, 3)
    assert len(fold_splits({"train": 0.6, "eval": 0.1, "test": 0.3}, 2)) == 1   # just fits
    data = msft_slice(str(tmp_path / "msft.csv"), 50)
    with pytest.raises(ConfigError, match="1 fold is the run itself"):
        forecast_config(tmp_path, data, evaluation={"backtest": {"folds": 1}})


def test_the_cutoff_leaves_out_the_newest_timestamps():
    stamps = [5, 1, 3, 3, 9, 7]                  # distinct: 1 3 5 7 9
    assert cr.cutoff_time(stamps, 0.6) == 7      # 1, 3, 5 kept
    assert cr.cutoff_time(stamps, 1.0) == 10     # nothing left out


def test_summary_is_the_mean_and_spread_over_the_folds():
    rows = [{"fold": 1, "until": 0.8, "model": 1.0, "naive": 2.0, "best_baseline": "naive",
             "ratio_to_best": 0.5},
            {"fold": 2, "until": 1.0, "model": 3.0, "naive": 2.0, "best_baseline": "naive",
             "ratio_to_best": 1.5}]
    stats = summary(rows)
    assert stats["model"] == (2.0, 1.0) and stats["naive"] == (2.0, 0.0)
    assert stats["ratio_to_best"] == (1.0, 0.5)


def test_a_run_with_two_folds_scores_an_earlier_block_and_logs_both(tmp_path, capsys,
                                                                     monkeypatch):
    import mlflow

    from seqline.pipeline.executions import latest_execution
    from seqline.pipeline.runner import run_pipeline

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    data = msft_slice(str(tmp_path / "msft.csv"), 300)
    cfg = forecast_config(tmp_path, data, training={"epochs": 1},
                          data={"split": {"train": 0.6, "eval": 0.1, "test": 0.3}},
                          evaluation={"backtest": {"folds": 2}},
                          compression={"enabled": False})
    result = run_pipeline(cfg)
    out = capsys.readouterr().out
    assert "backtest fold 1/2 (the oldest 70% of the time range): model MASE" in out
    assert "backtest fold 2/2 (the oldest 100% of the time range)" in out and "(this run)" in out
    assert "model / best baseline" in out

    fold_root = os.path.join(cfg["pipeline_root"], "Backtest", "fold-1", "pipeline")
    with open(os.path.join(latest_execution(fold_root, "ExampleGen"), "quarantine",
                           "summary.json")) as fh:
        fold = json.load(fh)
    with open(os.path.join(latest_execution(cfg["pipeline_root"], "ExampleGen"), "quarantine",
                           "summary.json")) as fh:
        run = json.load(fh)
    # the fold reads the oldest 70% of the 300 days: a test block as long as the run's (90 days),
    # ending where the run's eval split ends, and 90 fewer training days
    assert fold["rows"] == 210 and fold["split_counts"]["test"] == run["split_counts"]["test"] == 90
    assert fold["split_counts"]["train"] == run["split_counts"]["train"] - 90

    with open(os.path.join(cfg["pipeline_root"], "Backtest", result.run_id, "backtest.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["fold"] for r in rows] == ["1", "2"]
    assert {"model", "naive", "drift", "window_mean", "ratio_to_best"} <= set(rows[0])
    history = mlflow.tracking.MlflowClient().get_metric_history(result.run_id,
                                                                "backtest_model_mase")
    assert sorted(m.step for m in history) == [1, 2]
    logged = mlflow.get_run(result.run_id).data.metrics
    assert logged["backtest_model_mase_mean"] == pytest.approx(
        (float(rows[0]["model"]) + float(rows[1]["model"])) / 2)
