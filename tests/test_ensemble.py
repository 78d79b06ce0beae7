"""Ensembles: members plus their average as one more candidate, exported as one SavedModel."""
from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqline.components import ensemble, evaluator, example_gen, trainer, transform
from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks import get_task
from seqline.components.tasks.forecast.data import load_arrays
from seqline.pipeline.component import Context
from seqline.pipeline.errors import ConfigError
from tests.forecast_fixtures import forecast_config, msft_slice, run_executor

MEMBERS = ["lstm", {"type": "gru", "units": 4}, "transformer"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ensemble")
    cfg = forecast_config(tmp, msft_slice(str(tmp / "msft.csv"), 500),
                          model={"ensemble": MEMBERS, "heads": 2, "ff_units": 8},
                          training={"epochs": 1})
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    tf_out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    inputs = {"transformed_examples": tf_out["transformed_examples"],
              "transform_graph": tf_out["transform_graph"]}
    lines = []
    model = run_executor(trainer, cfg, inputs, str(tmp / "model"),
                         Context(echo=lines.append, state_dir=str(tmp / "state")))["model"]
    return tmp, cfg, inputs, model, lines


def test_every_member_trains_and_the_lowest_eval_loss_is_selected(trained):
    _, _, _, model, lines = trained
    index = ensemble.read_index(model.path("model.keras"))
    assert list(index["losses"]) == ["lstm", "gru", "transformer", "ensemble"]
    assert index["selected"] == min(index["losses"], key=index["losses"].get)
    assert model.properties["selected"] == index["selected"]
    assert model.properties["best"] == pytest.approx(index["losses"][index["selected"]])
    assert any(line.startswith("gru: epoch 1/1") for line in lines)
    assert any(line.startswith("candidates' val_loss:") for line in lines)


def test_the_average_is_the_mean_of_the_members_predictions(trained):
    _, _, inputs, model, _ = trained
    examples = inputs["transformed_examples"]
    x = load_arrays(split_pattern(examples.uri, "test"), examples.properties)["x"]
    load = lambda label: keras.saving.load_model(ensemble.candidate_path(model.uri, label))  # noqa: E731
    members = [load(label).predict(x, verbose=0) for label in ("lstm", "gru", "transformer")]
    assert np.abs(members[0] - members[1]).max() > 1e-3       # the members differ
    np.testing.assert_allclose(load("ensemble").predict(x, verbose=0), np.mean(members, axis=0),
                               rtol=1e-5, atol=1e-6)


def test_evaluator_scores_every_candidate_and_the_ensemble_exports_as_one_model(trained, tmp_path):
    tmp, cfg, inputs, model, _ = trained
    lines = []
    out = run_executor(evaluator, cfg, {**inputs, "model": model}, str(tmp / "eval"),
                       Context(echo=lines.append))
    candidates = out["evaluation"].properties["candidates"]
    assert set(candidates) == {"lstm", "gru", "transformer", "ensemble"}
    assert all(np.isfinite(m["mase"]) for m in candidates.values())
    assert any(line.startswith("candidates on the test split (mase)") for line in lines)
    # export the ensemble itself, as the Pusher would if it were selected
    examples, graph = inputs["transformed_examples"], inputs["transform_graph"]
    path = str(tmp_path / "served")
    get_task("forecast").export(graph, ensemble.candidate_path(model.uri, "ensemble"), examples, path)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
    params = fm.ForecastParams(**json.load(open(graph.path("params.json"))))
    average = keras.saving.load_model(ensemble.candidate_path(model.uri, "ensemble"))
    expected = fm.inverse(average.predict(data["x"], verbose=0), data["window"], params)
    np.testing.assert_allclose(serve(window=tf.constant(data["window"]))["forecast"].numpy(), expected,
                               rtol=1e-4, atol=1e-4)
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))


@pytest.mark.parametrize("members, message", [
    (["lstm"], "model.ensemble: needs at least 2 members, got 1"),
    (["lstm", "rnn"], "model.ensemble[1].type: must be one of"),
    (["lstm", {"type": "gru", "unit": 4}], "model.ensemble[1].unit: unknown key (did you mean 'units'?)"),
    (["lstm", 3], "model.ensemble[1]: expected an architecture name or a mapping"),
])
def test_bad_ensembles_are_one_line_config_errors(tmp_path, members, message):
    with pytest.raises(ConfigError) as info:
        forecast_config(tmp_path, msft_slice(str(tmp_path / "m.csv"), 50), model={"ensemble": members})
    assert message in str(info.value)


def test_an_ensemble_fixes_the_architectures_so_type_is_not_tuned(tmp_path):
    with pytest.raises(ConfigError, match="tuning.search_space.type: model.ensemble fixes"):
        forecast_config(tmp_path, msft_slice(str(tmp_path / "m.csv"), 50),
                        model={"ensemble": ["lstm", "gru"]},
                        tuning={"search_space": {"type": ["lstm", "gru"]}})
