"""A shipped forecast example as a user runs it: the trending air-passengers series, whose test
values exceed everything in the train split. It gets a warning, the AutoETS reference and every
baseline, and the default window-relative model does not lose to the naive forecast."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from pipeline.runner import latest_execution
from tests.forecast_fixtures import ROOT

EXAMPLE = os.path.join(ROOT, "examples", "air_passengers_forecast")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The example as shipped, compression off, by the CLI in a fresh folder."""
    tmp = tmp_path_factory.mktemp("air")
    with open(os.path.join(EXAMPLE, "pipeline.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg["data"]["path"] = os.path.join(EXAMPLE, cfg["data"]["path"])
    cfg["compression"] = {"enabled": False}
    config = tmp / "pipeline.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(config)], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp, done.stdout


def test_test_values_above_the_train_range_are_warned_about(run):
    _, stdout = run
    line = next(l for l in stdout.splitlines() if "outside the train range" in l)
    assert "passengers_thousands" in line and "train 104..413" in line


def test_every_baseline_and_the_reference_are_scored_and_the_model_beats_naive(run):
    tmp, stdout = run
    assert "seasonal period 12 (inferred from monthly time steps)" in stdout
    assert "reference AutoETS MASE" in stdout
    evaluation = latest_execution(str(tmp / "output" / "pipeline"), "Evaluator")
    with open(os.path.join(evaluation, "evaluation", "metrics.json")) as fh:
        report = json.load(fh)
    mase = {name: m["mase"] for name, m in report["metrics"].items()}
    assert {"model", "naive", "seasonal_naive", "drift", "window_mean", "auto_ets"} <= set(mase)
    assert report["best_baseline"] == "seasonal_naive"
    assert mase["model"] < mase["naive"]
