"""A shipped forecast example as a user runs it: the trending air-passengers series, whose test
values exceed everything in the train split. It gets a warning, the AutoETS reference and every
baseline, and the default window-relative model does not lose to the naive forecast."""
import json
import os

import pytest

from seqline.pipeline.runner import latest_execution
from tests.forecast_fixtures import run_example_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The example as shipped, compression off, by the CLI in a fresh folder."""
    tmp = tmp_path_factory.mktemp("air")
    return tmp, run_example_cli("air_passengers_forecast", tmp,
                                lambda cfg: cfg.update(compression={"enabled": False}))


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
    assert {"model", "naive", "seasonal_naive", "seasonal_mean", "drift", "window_mean",
            "auto_ets"} <= set(mase)
    assert report["best_baseline"] in ("seasonal_naive", "seasonal_mean")
    assert mase["model"] < mase["naive"]
