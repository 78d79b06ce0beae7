"""Tuner: an optional stage; two tiny trials as nested MLflow runs; the Trainer uses the best."""
from __future__ import annotations

import csv
import json

import keras
import mlflow
import pytest

from seqline.components import tuner
from seqline.pipeline.component import Context
from seqline.pipeline.dag import build_dag, component_names
from seqline.pipeline.errors import ConfigError, SeqlineError
from seqline.pipeline.runner import run_pipeline
from tests.forecast_fixtures import forecast_config, msft_slice, run_executor

SPACE = {"units": [4, 8], "lookback": [6, 10], "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tuner")
    cfg = forecast_config(tmp, msft_slice(str(tmp / "msft.csv"), 500),
                          tuning={"search_space": SPACE, "max_trials": 2, "epochs": 1},
                          training={"epochs": 1})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        result = run_pipeline(cfg, until="Trainer", quiet=True)
    return tmp, cfg, result


def test_tuner_is_in_the_dag_only_when_tuning_is_set(tuned):
    _, cfg, _ = tuned
    names = [m.SPEC.name for m in build_dag(component_names(cfg))]
    assert names.index("Transform") < names.index("Tuner") == names.index("Trainer") - 1
    assert "Tuner" not in component_names({**cfg, "tuning": None})
    assert "Tuner" not in [m.SPEC.name for m in build_dag(component_names({**cfg, "tuning": None}))]


def test_two_trials_are_nested_mlflow_runs_under_the_tuner(tuned):
    tmp, cfg, result = tuned
    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name(cfg["name"]).experiment_id])
    tuner = [r for r in runs if r.data.tags.get("seqline.component") == "Tuner"]
    assert len(tuner) == 1
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tuner[0].info.run_id]
    assert sorted(r.data.tags["seqline.trial"] for r in trials) == ["1", "2"]
    for trial in trials:
        assert {"model.units", "model.lookback", "training.learning_rate"} <= set(trial.data.params)
        assert trial.data.metrics["best_val_loss"] > 0
    assert tuner[0].data.metrics["trials_finished"] == 2


def test_best_hyperparameters_are_the_best_trial_and_the_trainer_uses_them(tuned):
    _, _, result = tuned
    best_artifact = result.artifacts[("Tuner", "best_hyperparameters")]
    best = json.load(open(best_artifact.path("best_hyperparameters.json")))
    with open(best_artifact.path("trials.csv")) as fh:
        trials = list(csv.DictReader(fh))
    assert best["value"] == pytest.approx(min(float(t["val_loss"]) for t in trials))
    assert set(best["model"]) == {"units", "lookback"} and set(best["training"]) == {"learning_rate"}
    model = result.artifacts[("Trainer", "model")]
    used = model.properties["hyperparameters"]
    assert {k: used["model"][k] for k in best["model"]} == best["model"]
    assert used["training"]["learning_rate"] == best["training"]["learning_rate"]
    loaded = keras.saving.load_model(model.path("model.keras"))
    steps = result.artifacts[("Transform", "transformed_examples")].properties["steps"]
    assert loaded.input_shape == (None, steps, 2)          # serving still takes full windows
    cropped = [layer for layer in loaded.layers if layer.name == "lookback"]
    assert bool(cropped) == (best["model"]["lookback"] < 10)


def test_time_budget_stops_a_running_trial_and_says_so(tuned, tmp_path):
    _, cfg, result = tuned
    cfg = {**cfg, "tuning": {**cfg["tuning"], "max_seconds": 1, "epochs": 500},   # cannot finish
           "training": {**cfg["training"], "early_stopping_patience": 500}}
    inputs = {name: result.artifacts[("Transform", name)]
              for name in ("transformed_examples", "transform_graph")}
    lines = []
    with pytest.raises(SeqlineError, match=r"no trial finished within tuning.max_seconds=1;"):
        run_executor(tuner, cfg, inputs, str(tmp_path / "t"), Context(echo=lines.append))
    assert len(lines) == 1 and "stopped by the time budget" in lines[0]


@pytest.mark.parametrize("tuning, message", [
    ({"search_space": {"unit": [4]}}, "tuning.search_space.unit: unknown key (did you mean 'units'?)"),
    ({"search_space": {"lookback": [5, 11]}}, "tuning.search_space.lookback: 11 must be an integer from 2 to transform.lookback (10)"),
    ({"search_space": {"dropout": {"low": 0.5, "high": 0.1}}}, "tuning.search_space.dropout: low (0.5) is above high (0.1)"),
    ({"search_space": {"type": ["lstm", "rnn"]}}, "tuning.search_space.type: must be one of"),
    ({"search_space": {}}, "tuning.search_space: empty"),
    ({"max_trials": 2}, "tuning.search_space: missing required key"),
])
def test_bad_search_spaces_are_one_line_config_errors(tmp_path, tuning, message):
    with pytest.raises(ConfigError) as info:
        forecast_config(tmp_path, msft_slice(str(tmp_path / "m.csv"), 50), tuning=tuning)
    assert message in str(info.value) and "\n" not in str(info.value)
