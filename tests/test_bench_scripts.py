"""The benchmark scripts still run against the code they measure (not their figures: those live in
bench/README.md). Each runs once on 300 real MSFT rows, in a fresh process, as a user runs it."""
import os
import subprocess
import sys

import pytest

from tests.forecast_fixtures import ROOT, pipeline_yaml


def bench(tmp_path, script: str, *args) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", script), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def config(tmp_path):
    return pipeline_yaml(tmp_path, "bench", epochs=2)[0]


def test_pipeline_overhead_prints_every_stage_and_the_ratio(tmp_path, config):
    out = bench(tmp_path, "pipeline_overhead.py", "--config", config, "--epochs", "2")
    assert "ratio pipeline / plain:" in out and "WARNING" not in out
    for stage in ("ExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert stage in out
    assert not os.path.exists(tmp_path / "mlruns")   # everything went to its temporary folder


def test_train_throughput_compares_the_trainer_with_plain_fit(tmp_path, config):
    out = bench(tmp_path, "train_throughput.py", "--config", config, "--epochs", "2",
                "--rounds", "1", "--types", "lstm")
    assert "Trainer path input: tf.data" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("lstm ")] == ["lstm"]


def test_forecast_accuracy_prints_every_baseline_and_the_ratio(tmp_path):
    out = bench(tmp_path, "forecast_accuracy.py", "--examples", "air_passengers_forecast",
                "--epochs", "3")
    header, _, row = out.splitlines()[-4:-1]
    for name in ("naive", "seasonal_naive", "seasonal_mean", "drift", "window_mean", "auto_ets",
                 "vs best"):
        assert name in header
    assert row.startswith("air_passengers_forecast") and ("PASS" in row or "MISS" in row)
    assert not os.path.exists(tmp_path / "mlruns")   # everything went to its temporary folder


def test_data_scaling_prints_every_data_stage_against_the_pandas_read(tmp_path):
    out = bench(tmp_path, "data_scaling.py", "--sizes", "40000")
    lines = {line.split("  ")[0]: line.split() for line in out.splitlines() if line.strip()}
    for stage in ("pandas read", "ExampleGen", "StatisticsGen", "Transform", "data stages"):
        assert stage in lines, out
    assert "40,000 rows" in out
    seconds, cpu, _, _, pandas = lines["ExampleGen"][1:6]   # seconds, CPU s, rows/s, RSS, x pandas
    assert float(seconds) > 0 and float(cpu) > 0 and pandas.endswith("x")
