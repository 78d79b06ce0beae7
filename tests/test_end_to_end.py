"""The example pipeline end to end, as a user runs it: CLI, artifacts, MLflow, exported model."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml

from components.split_io import split_pattern
from components.tasks import forecast_math as fm
from components.tasks.forecast_data import load_arrays
from pipeline.artifacts import Artifact
from pipeline.config import load_config
from pipeline.dag import DEFAULT_STAGES as STAGES
from pipeline.runner import latest_execution, run_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "stock_forecast")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The example config with 2 epochs, run by the CLI in a fresh folder with the default store."""
    tmp = tmp_path_factory.mktemp("e2e")
    with open(os.path.join(EXAMPLE, "pipeline.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg["data"]["path"] = os.path.join(EXAMPLE, cfg["data"]["path"])
    cfg["training"]["epochs"] = 2
    cfg["evaluation"]["blessing"]["max_ratio_to_naive"] = None   # bless the first model
    config = tmp / "pipeline.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(config)], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp, str(config), done.stdout


def test_cli_prints_progress_metrics_and_summary(run):
    _, _, stdout = run
    for i, stage in enumerate(STAGES, 1):
        assert f"[{i}/{len(STAGES)}] {stage}" in stdout
    assert "epoch 2/2" in stdout
    assert "vs naive" in stdout and ("beats" in stdout or "does NOT beat" in stdout)
    assert "stage" in stdout and "key metrics" in stdout
    assert "exported version 1" in stdout


def test_every_stage_left_a_complete_typed_artifact(run):
    tmp, _, _ = run
    root = tmp / "output" / "pipeline"
    for stage in STAGES:
        folder = latest_execution(str(root), stage)
        assert folder and folder.endswith("/1")
        record = json.loads(open(os.path.join(folder, "execution.json")).read())
        for name, uri in record["outputs"].items():
            assert Artifact.load(uri).producer == stage
    assert not [d for d in os.listdir(root / "Trainer") if "tmp" in d]
    evaluation = Artifact.load(str(root / "Evaluator" / "1" / "evaluation"))
    metrics = evaluation.properties["metrics"]
    assert set(metrics) == {"model", "naive", "seasonal_naive"}
    for name in ("mae", "rmse", "smape", "mase", "directional_accuracy"):
        assert np.isfinite(metrics["model"][name])
    assert metrics["naive"]["mase"] > 0
    assert os.path.isfile(evaluation.path("forecast_vs_actual.png"))


def test_mlflow_has_a_parent_run_with_one_nested_run_per_stage(run):
    tmp, _, _ = run
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("msft_close")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    children = {r.data.tags["seqline.component"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert set(children) == set(STAGES)
    evaluator = children["Evaluator"]
    assert evaluator.data.metrics["model_mase"] > 0 and evaluator.data.metrics["naive_mase"] > 0
    assert "seqline.inputs" in evaluator.data.tags and "seqline.outputs" in evaluator.data.tags
    files = {f.path for f in client.list_artifacts(evaluator.info.run_id)}
    assert {"forecast_vs_actual.png", "residuals.png", "metrics.json"} <= files
    trainer = children["Trainer"]
    assert len(client.get_metric_history(trainer.info.run_id, "loss")) == 2
    assert trainer.data.params["model.type"] == "lstm"
    champion = client.get_model_version_by_alias("msft_close", "champion")
    assert str(champion.version) == "1"


def test_exported_model_in_a_fresh_process_matches_the_pipeline_model(run):
    tmp, config, _ = run
    root = str(tmp / "output" / "pipeline")
    transformed = Artifact.load(os.path.join(latest_execution(root, "Transform"), "transformed_examples"))
    graph = Artifact.load(os.path.join(latest_execution(root, "Transform"), "transform_graph"))
    model_dir = os.path.join(latest_execution(root, "Trainer"), "model")
    data = load_arrays(split_pattern(transformed.uri, "test"), transformed.properties)
    params = fm.ForecastParams(**json.load(open(graph.path("params.json"))))
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    expected = fm.inverse(model.predict(data["x"], verbose=0), data["window"], params)
    np.save(tmp / "windows.npy", data["window"])
    script = ("import sys, numpy as np, tensorflow as tf;"
              "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default'];"
              "np.save(sys.argv[3], f(window=tf.constant(np.load(sys.argv[2])))['forecast'].numpy())")
    served = tmp / "served.npy"
    exported = tmp / "output" / "serving" / "msft_close" / "1"
    done = subprocess.run([sys.executable, "-c", script, str(exported), str(tmp / "windows.npy"), str(served)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(served), expected, rtol=1e-4, atol=1e-4)
    assert np.abs(np.load(served) - data["y_raw"]).mean() < 5.0   # forecasts are in dollars


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "transformer"])
def test_every_model_type_runs_from_the_trainer_on(run, kind, monkeypatch):
    tmp, config, _ = run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlruns/mlflow.db")
    cfg = load_config(config)
    cfg["model"]["type"] = kind
    result = run_pipeline(cfg, start="Trainer", quiet=True)
    assert result.artifacts[("Trainer", "model")].properties["architecture"] == kind
    scores = result.artifacts[("Evaluator", "evaluation")].properties["metrics"]
    assert "champion" in scores   # re-scored on the same test windows
    assert np.isfinite(scores["model"]["mase"])
