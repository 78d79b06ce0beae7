"""Quantile forecasts: config, pinball loss, the inverse transform in NumPy and TF, interval
scores, and a quantile model through the shipped sensor example (trained, scored, exported)."""
import csv
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from seqline.components.tasks.forecast import graph as forecast_graph
from seqline.components.tasks.forecast import intervals as fi
from seqline.components.tasks.forecast import numerics as fm
from seqline.models.quantile_loss import PinballLoss
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.runner import latest_execution
from tests.forecast_fixtures import forecast_config, msft_slice, run_example_cli

LEVELS = [0.1, 0.5, 0.9]


def test_levels_are_sorted_with_the_median_added_and_bad_ones_refused(tmp_path):
    data = msft_slice(str(tmp_path / "msft.csv"), 100)
    levels = {"transform": {"log_returns": False}}
    cfg = forecast_config(tmp_path, data, model={"quantiles": [0.9, 0.1]}, **levels)
    assert cfg["model"]["quantiles"] == LEVELS
    assert forecast_config(tmp_path, data, **levels)["model"]["quantiles"] is None
    for bad, words in (([0.1, 1.0], "between 0 and 1"), ([], "between 0 and 1"),
                       ([0.2, 0.2], "listed twice"), ([True], "between 0 and 1")):
        with pytest.raises(ConfigError, match=f"^model.quantiles: .*{words}"):
            forecast_config(tmp_path, data, model={"quantiles": bad}, **levels)
    with pytest.raises(ConfigError, match=r"'Close' is forecast as log returns .* over 2 steps"):
        forecast_config(tmp_path, data, model={"quantiles": LEVELS})
    one_step = forecast_config(tmp_path, data, model={"quantiles": LEVELS},
                               transform={"horizon": 1})
    assert one_step["model"]["quantiles"] == LEVELS


def test_pinball_loss_matches_numpy_and_is_half_the_mae_at_the_median():
    rng = np.random.default_rng(0)
    y, pred = rng.normal(size=(16, 4)), rng.normal(size=(16, 12))
    error = y[:, :, None] - pred.reshape(16, 4, 3)
    q = np.asarray(LEVELS)
    expected = np.maximum(q * error, (q - 1) * error).mean()
    got = PinballLoss(LEVELS)(ops.convert_to_tensor(y, "float32"),
                              ops.convert_to_tensor(pred, "float32"))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    median = PinballLoss([0.5])(ops.convert_to_tensor(y, "float32"),
                                ops.convert_to_tensor(pred[:, :4], "float32"))
    np.testing.assert_allclose(float(median), np.abs(y - pred[:, :4]).mean() / 2, rtol=1e-5)


@pytest.mark.parametrize("normalization,base,log,H", [("window", "seasonal_naive", False, 4),
                                                      ("global", "none", False, 4),
                                                      ("global", "none", True, 1)])
def test_numpy_and_graph_give_the_same_sorted_quantiles(normalization, base, log, H):
    rng = np.random.default_rng(1)
    L = 24
    p = fm.ForecastParams(["a"], "a", [log], [0.0 if log else 3.0], [0.01 if log else 2.0],
                          lookback=L, horizon=H,
                          mase_scale=1.0, normalization=normalization, spread_floor=[0.1],
                          base=base, seasonal_period=6, quantiles=LEVELS)
    raw = (rng.normal(size=(8, L, 1)).cumsum(axis=1) + 20).astype(np.float32)
    pred = rng.normal(size=(8, H * 3)).astype(np.float32)   # unsorted on purpose
    numpy_q = fm.inverse_quantiles(pred, raw, p)
    module = forecast_graph.ForecastTransform(p)
    graph_q = module.inverse_quantiles(tf.constant(pred), tf.constant(raw)).numpy()
    np.testing.assert_allclose(graph_q, numpy_q, rtol=1e-5)
    assert numpy_q.shape == (8, H, 3) and (np.diff(numpy_q, axis=2) >= 0).all()
    np.testing.assert_allclose(fm.inverse(pred, raw, p), numpy_q[:, :, 1])
    np.testing.assert_allclose(module.inverse(tf.constant(pred), tf.constant(raw)).numpy(),
                               numpy_q[:, :, 1], rtol=1e-5)


def test_intervals_pair_the_levels_and_score_a_calibrated_forecast_as_calibrated():
    assert fi.central_intervals([0.05, 0.25, 0.5, 0.9]) == [(0, 3, 0.9 - 0.05)]
    assert [n for *_, n in fi.central_intervals([0.1, 0.25, 0.5, 0.75, 0.9])] == [0.8, 0.5]
    rng = np.random.default_rng(2)
    actual = rng.uniform(size=(20000, 2))
    exact = np.broadcast_to(np.asarray(LEVELS), (20000, 2, 3))
    scores = fi.interval_scores(actual, exact, LEVELS, mase_scale=0.5)
    assert scores["intervals"]["80"]["coverage"] == pytest.approx(0.8, abs=0.01)
    assert scores["intervals"]["80"]["width"] == pytest.approx(0.8)
    too_narrow = fi.interval_scores(actual, np.broadcast_to(np.asarray([0.4, 0.5, 0.6]),
                                                             (20000, 2, 3)), LEVELS, 0.5)
    assert too_narrow["intervals"]["80"]["coverage"] < 0.25
    assert too_narrow["scaled_pinball"] > scores["scaled_pinball"]
    errors = fi.error_quantiles(actual, np.zeros_like(actual), LEVELS)
    np.testing.assert_allclose(errors, np.broadcast_to(LEVELS, (2, 3)), atol=0.02)


@pytest.fixture(scope="module")
def quantile_run(tmp_path_factory):
    """The sensor example with ``model.quantiles``, through compression and the Pusher."""
    tmp = tmp_path_factory.mktemp("quantiles")

    def change(cfg):
        cfg["model"]["quantiles"] = [0.1, 0.9]
        cfg["training"]["epochs"] = 6
        cfg["evaluation"]["reference"] = "none"
        cfg["evaluation"]["blessing"]["max_ratio_to_best_baseline"] = None

    return tmp, run_example_cli("sensor_forecast", tmp, change)


def test_a_quantile_model_reports_coverage_width_and_pinball_next_to_the_baseline(quantile_run):
    tmp, stdout = quantile_run
    assert "80% interval (q0.1 to q0.9): coverage model" in stdout
    assert "scaled pinball loss: model" in stdout and "eval-split error quantiles" in stdout
    evaluation = os.path.join(latest_execution(str(tmp / "output" / "pipeline"), "Evaluator"),
                              "evaluation")
    with open(os.path.join(evaluation, "metrics.json")) as fh:
        intervals = json.load(fh)["intervals"]
    model, baseline = intervals["model"]["intervals"]["80"], intervals["baseline"]["intervals"]["80"]
    assert 0.5 < model["coverage"] < 0.97 and model["width"] > 0
    assert 0.6 < baseline["coverage"] < 0.97     # calibrated on the eval split, scored on test
    with open(os.path.join(evaluation, "predictions.csv")) as fh:
        header = next(csv.reader(fh))
    assert {"q0.1_1", "q0.5_3", "q0.9_3"} <= set(header)


def test_the_exported_model_serves_sorted_quantiles_and_their_median(quantile_run):
    tmp, _ = quantile_run
    serving = tmp / "output" / "serving" / "ecg_next_samples" / "1"
    serve = tf.saved_model.load(str(serving)).signatures["serving_default"]
    windows = np.random.default_rng(3).normal(0, 0.3, size=(5, 36, 1)).astype(np.float32)
    out = serve(window=tf.constant(windows))
    quantiles, forecast = out["quantiles"].numpy(), out["forecast"].numpy()
    assert quantiles.shape == (5, 3, 3) and (np.diff(quantiles, axis=2) >= 0).all()
    np.testing.assert_array_equal(forecast, quantiles[:, :, 1])
    (edge,) = glob.glob(str(tmp / "output" / "edge" / "ecg_next_samples" / "1" / "metadata.json"))
    with open(edge) as fh:
        assert json.load(fh)["outputs"]["forecast"]["quantiles"] == LEVELS
