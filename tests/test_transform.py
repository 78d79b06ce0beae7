"""Transform: the Beam path and the exported transform graph give the same numbers."""
import glob
import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from seqline.components import example_gen, transform
from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast import graph as forecast_graph
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.forecast.data import load_arrays
from seqline.components.tasks.missing_values import fill_missing_tf
from tests.forecast_fixtures import forecast_config, msft_slice, run_executor


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transform")
    cfg = forecast_config(tmp, msft_slice(str(tmp / "msft.csv"), 400))
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    with open(out["transform_graph"].path("params.json")) as fh:
        params = fm.ForecastParams(**json.load(fh))
    return cfg, gen, out, params


def test_graph_reproduces_beam_features_on_the_same_rows(transformed):
    _, _, out, params = transformed
    examples = out["transformed_examples"]
    graph = tf.saved_model.load(out["transform_graph"].path("graph"))
    for split in ("train", "test"):
        data = load_arrays(split_pattern(examples.uri, split), examples.properties)
        assert len(data["x"]) == examples.properties["split_counts"][split]
        from_graph = graph.transform(tf.constant(data["window"])).numpy()
        np.testing.assert_allclose(from_graph, data["x"], atol=1e-5)


def test_graph_inverse_returns_original_units(transformed):
    _, _, out, params = transformed
    examples = out["transformed_examples"]
    graph = tf.saved_model.load(out["transform_graph"].path("graph"))
    data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
    back = graph.inverse(tf.constant(data["y"]), tf.constant(data["window"])).numpy()
    np.testing.assert_allclose(back, data["y_raw"], rtol=1e-4)
    np.testing.assert_allclose(fm.inverse(data["y"], data["window"], params), data["y_raw"], rtol=1e-4)


def test_numpy_and_graph_agree_with_missing_values():
    rng = np.random.default_rng(0)
    params = fm.ForecastParams(["a", "b"], "a", [True, False], [0.001, 5.0], [0.02, 2.0],
                               lookback=12, horizon=3, mase_scale=1.0)
    raw = np.exp(rng.normal(0, 0.02, (20, 12, 2)).cumsum(axis=1)) * [50.0, 5.0]
    raw[0, :3, 0] = np.nan      # leading gap: back-filled
    raw[1, 4:7, 1] = np.nan     # inner gap: forward-filled
    raw[2, :, 1] = np.nan       # all missing: becomes 0 after scaling
    raw = raw.astype(np.float32)
    module = forecast_graph.ForecastTransform(params)
    np.testing.assert_allclose(module.transform(tf.constant(raw)).numpy(),
                               fm.transform_window(raw, params), atol=1e-6)
    assert not np.isnan(fm.transform_window(raw, params)).any()
    pred = rng.normal(size=(20, 3)).astype(np.float32)
    np.testing.assert_allclose(module.inverse(tf.constant(pred), tf.constant(raw)).numpy(),
                               fm.inverse(pred, raw, params), rtol=1e-5)


def test_fill_missing_forward_then_backward():
    x = np.array([[np.nan, 1.0, np.nan, np.nan, 4.0, np.nan]])[:, :, None]
    filled = fm.fill_missing(x)[0, :, 0]
    np.testing.assert_array_equal(filled, [1, 1, 1, 1, 4, 4])
    tf_filled = fill_missing_tf(tf.constant(x), 6).numpy()[0, :, 0]
    np.testing.assert_array_equal(tf_filled, filled)


def test_target_transform_round_trips():
    params = fm.ForecastParams(["p"], "p", [True], [0.01], [0.5], lookback=4, horizon=3, mase_scale=1.0)
    raw = np.array([[[10.0], [11.0], [12.0], [12.5]]])
    future = np.array([[13.0, 12.0, 14.0]])
    y = fm.transform_target(raw, future, params)
    np.testing.assert_allclose(fm.inverse(y, raw, params), future, rtol=1e-6)


def test_analyzers_use_only_the_train_split(transformed):
    cfg, gen, _, params = transformed
    import csv
    with open(cfg["data"]["path"]) as fh:
        rows = list(csv.DictReader(fh))
    n_train = gen["examples"].properties["split_counts"]["train"]
    close = np.array([float(r["Close"]) for r in rows])
    volume = np.array([float(r["Volume"]) for r in rows])
    returns = np.diff(np.log(close))[: n_train - 1]
    assert params.center[0] == pytest.approx(returns.mean(), rel=1e-3)
    assert params.scale[0] == pytest.approx(returns.std(), rel=1e-3)
    assert params.center[1] == pytest.approx(volume[:n_train].mean(), rel=1e-4)
    assert params.mase_scale == pytest.approx(np.abs(np.diff(close[:n_train])).mean(), rel=1e-4)
    # the statistics of all rows differ, so a leak of eval/test rows would fail the checks above
    assert volume.mean() != pytest.approx(volume[:n_train].mean(), rel=1e-3)


def test_windows_are_assigned_to_the_split_of_their_first_target(transformed):
    _, gen, out, _ = transformed
    counts = out["transformed_examples"].properties["split_counts"]
    rows = gen["examples"].properties["split_counts"]
    lookback, horizon = 10, 2
    assert counts["train"] == rows["train"] - lookback
    assert counts["eval"] == rows["eval"]
    assert counts["test"] == rows["test"] - horizon + 1
    assert os.path.isfile(out["transform_graph"].path("graph", "saved_model.pb"))


def test_windows_cut_at_read_time_are_the_series_windows(transformed):
    cfg, gen, out, params = transformed
    import csv
    with open(cfg["data"]["path"]) as fh:
        rows = list(csv.DictReader(fh))
    values = np.array([[float(r["Close"]), float(r["Volume"])] for r in rows])
    counts = gen["examples"].properties["split_counts"]
    splits = ["train"] * counts["train"] + ["eval"] * counts["eval"] + ["test"] * counts["test"]
    examples = out["transformed_examples"]
    for split in ("train", "eval", "test"):
        windows = [w for w in fm.make_windows(values, splits, params, 1) if w[0] == split]
        data = load_arrays(split_pattern(examples.uri, split), examples.properties)
        raw = np.stack([w[2] for w in windows])
        np.testing.assert_array_equal(data["window"], raw.astype(np.float32))
        np.testing.assert_array_equal(data["y_raw"], np.stack([w[3] for w in windows]).astype(np.float32))
        np.testing.assert_allclose(data["x"], fm.transform_window(raw, params), rtol=1e-5, atol=1e-6)
        assert data["times"] == [rows[w[1] + 1]["Date"] for w in windows]
    # each series is written about once, not once per window: the files hold the rows'
    # values plus one end index and target time per window
    files = sum(os.path.getsize(p) for p in glob.glob(os.path.join(examples.uri, "Split-*")))
    assert files < 40 * len(rows)


def test_a_damaged_examples_file_is_an_error_naming_it(transformed, tmp_path):
    cfg, gen, _, _ = transformed
    import shutil
    from seqline.pipeline.artifacts import Artifact
    from seqline.pipeline.errors import DataError

    copy = str(tmp_path / "examples")
    shutil.copytree(gen["examples"].uri, copy)
    train = glob.glob(split_pattern(copy, "train"))[0]
    with gzip.open(train, "rb") as fh:
        data = bytearray(fh.read())
    data[len(data) // 2] ^= 0xFF
    with gzip.open(train, "wb") as fh:
        fh.write(bytes(data))
    with pytest.raises(DataError, match=r"Split-train-00000-of-00001\.tfrecord\.gz: damaged"):
        run_executor(transform, cfg, {"examples": Artifact.load(copy)}, str(tmp_path / "tf"))
