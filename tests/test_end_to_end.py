"""The example pipeline end to end, as a user runs it: CLI, artifacts, MLflow, exported model."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml

from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.forecast.data import load_arrays
from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.config import load_config
from seqline.pipeline.dag import DEFAULT_STAGES as STAGES
from seqline.pipeline.runner import latest_execution, run_pipeline
from tests.forecast_fixtures import run_example_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quick(cfg: dict) -> None:
    cfg["training"]["epochs"] = 2
    cfg["evaluation"]["blessing"]["max_ratio_to_best_baseline"] = None   # bless the first model
    cfg["compression"].update(latency_runs=50, pruning={"epochs": 1})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The example config with 2 epochs, run by the CLI in a fresh folder with the default store."""
    tmp = tmp_path_factory.mktemp("e2e")
    stdout = run_example_cli("stock_forecast", tmp, _quick)
    return tmp, str(tmp / "pipeline.yaml"), stdout


def test_cli_prints_progress_metrics_and_summary(run):
    _, _, stdout = run
    for i, stage in enumerate(STAGES, 1):
        assert f"[{i}/{len(STAGES)}] {stage}" in stdout
    assert "epoch 2/2" in stdout
    assert "vs best baseline" in stdout
    assert any(w in stdout for w in ("beats every baseline", "ties the", "does NOT beat the"))
    for baseline in ("naive", "seasonal_naive", "seasonal_mean", "drift", "window_mean"):
        assert f"\n    {baseline} " in stdout          # the score table shows every baseline
    assert "stage" in stdout and "key metrics" in stdout
    assert "exported version 1" in stdout
    assert "tflite_int8: mae=" in stdout and "b64 rows/s" in stdout   # the trade-off table
    assert "exported the edge variant" in stdout and "exported the gpu variant" in stdout


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
    assert set(metrics) == {"model", "naive", "seasonal_naive", "seasonal_mean", "drift",
                            "window_mean", "auto_ets"}
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
    compressor = children["Compressor"]
    files = {f.path for f in client.list_artifacts(compressor.info.run_id)}
    assert {"tradeoff.csv", "tradeoff.png", "report.json", "edge_metadata.json"} <= files
    assert compressor.data.metrics["tflite_int8/mae"] > 0
    assert compressor.data.metrics["tflite_int8/size_bytes"] > 0


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


EDGE_CLIENT = """
import json, sys
import numpy as np, tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

gpu_dir, edge_dir, windows_path, out = sys.argv[1:]
windows = np.load(windows_path).astype(np.float64)
gpu = tf.saved_model.load(gpu_dir).signatures["serving_default"]
gpu_forecast = gpu(window=tf.constant(windows, tf.float32))["forecast"].numpy()
meta = json.load(open(edge_dir + "/metadata.json"))
pre, post = meta["preprocessing"], meta["postprocessing"]
columns = pre["raw_window"]["columns"]
x = windows                                   # the test windows have no missing values
per = lambda key: np.array([pre[key][c] for c in columns])
relative = per("window_relative")
location = np.where(relative, windows[:, -1:, :], per("center"))
spread = np.where(relative, np.maximum(windows.std(axis=1, keepdims=True), per("spread_floor")),
                  per("scale"))
logs = per("log_returns")
if logs.any():
    x = np.where(logs, np.diff(np.log(x), axis=1), x[:, 1:])
x = (x - location) / spread
net = Interpreter(model_path=edge_dir + "/model.tflite")
net.allocate_tensors()
inp, outp = net.get_input_details()[0], net.get_output_details()[0]
qin, qout = meta["tensors"]["input"].get("quantization"), meta["tensors"]["output"].get("quantization")
values = []
for row in x[:, None].astype(np.float32):
    if qin:
        row = np.clip(np.round(row / qin["scale"] + qin["zero_point"]), -128, 127).astype(np.int8)
    net.reset_all_variables()                 # as metadata.json says: each window is a new sequence
    net.set_tensor(inp["index"], row)
    net.invoke()
    y = net.get_tensor(outp["index"]).astype(np.float64)
    values.append((y - qout["zero_point"]) * qout["scale"] if qout else y)
target = columns.index(meta["outputs"]["forecast"]["column"])
if post["window_relative"]:
    value = (np.concatenate(values) * spread[:, 0, target:target + 1]
             + windows[:, :, target] @ np.array(post["base_weights"]))
else:
    value = np.concatenate(values) * post["scale"] + post["center"]
edge_forecast = windows[:, -1, target:target + 1] * np.exp(np.cumsum(value, axis=1)) if post["log_returns"] else value
np.save(out, np.stack([gpu_forecast, edge_forecast]))
"""


def test_exported_variants_load_in_a_fresh_process_and_score_as_reported(run):
    """A client with only the exported folders: the gpu SavedModel, and the edge .tflite fed by
    following metadata.json (preprocessing, quantization, postprocessing) in plain NumPy."""
    tmp, _, _ = run
    root = str(tmp / "output" / "pipeline")
    transformed = Artifact.load(os.path.join(latest_execution(root, "Transform"), "transformed_examples"))
    data = load_arrays(split_pattern(transformed.uri, "test"), transformed.properties)
    np.save(tmp / "test_windows.npy", data["window"])
    gpu_dir = tmp / "output" / "serving" / "msft_close_gpu" / "1"
    edge_dir = tmp / "output" / "edge" / "msft_close" / "1"
    done = subprocess.run([sys.executable, "-c", EDGE_CLIENT, str(gpu_dir), str(edge_dir),
                           str(tmp / "test_windows.npy"), str(tmp / "variants.npy")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    gpu_forecast, edge_forecast = np.load(tmp / "variants.npy")
    report = json.load(open(os.path.join(latest_execution(root, "Compressor"), "compression", "report.json")))
    rows = {r["name"]: r for r in report["rows"]}
    gpu_meta = json.load(open(gpu_dir / "assets.extra" / "seqline.json"))
    edge_meta = json.load(open(edge_dir / "metadata.json"))
    for forecast, meta in ((gpu_forecast, gpu_meta), (edge_forecast, edge_meta)):
        mae = float(np.mean(np.abs(forecast - data["y_raw"])))
        assert mae == pytest.approx(rows[meta["variant"]]["metrics"]["mae"], rel=1e-4)
        assert meta["version"] == 1
    assert edge_meta["variant"] == report["selection"]["edge"]["variant"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in edge_meta["ops"]


def test_seqline_compress_reruns_only_the_compressor_and_the_pusher(run):
    tmp, config, _ = run
    cfg = yaml.safe_load(open(config))
    cfg["compression"].update(targets=["edge"], variants=[])   # the float references only
    recompress = tmp / "recompress.yaml"
    recompress.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "seqline", "compress", str(recompress)],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[1/2] Compressor" in done.stdout and "[2/2] Pusher" in done.stdout
    assert "version 1 already holds this model" in done.stdout
    root = str(tmp / "output" / "pipeline")
    assert latest_execution(root, "Compressor").endswith("/2")
    assert latest_execution(root, "Trainer").endswith("/1")
    meta = json.load(open(tmp / "output" / "edge" / "msft_close" / "1" / "metadata.json"))
    assert meta["variant"] == "tflite_float32" and meta["fallback"]   # rewritten by the rerun
    assert sorted(os.listdir(tmp / "output" / "serving" / "msft_close")) == ["1"]


@pytest.mark.parametrize("kind", ["simple_rnn", "gru", "transformer"])
def test_every_model_type_runs_from_the_trainer_on(run, kind, monkeypatch):
    tmp, config, _ = run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlruns/mlflow.db")
    cfg = load_config(config)
    cfg["model"]["type"] = kind
    cfg["compression"].update(targets=["edge"], variants=["tflite_int8"], latency_runs=20)
    result = run_pipeline(cfg, start="Trainer", quiet=True)
    assert result.artifacts[("Trainer", "model")].properties["architecture"] == kind
    scores = result.artifacts[("Evaluator", "evaluation")].properties["metrics"]
    assert "champion" in scores   # re-scored on the same test windows
    assert np.isfinite(scores["model"]["mase"])
    compression = result.artifacts[("Compressor", "compression")]
    rows = {r["name"]: r for r in json.load(open(compression.path("report.json")))["rows"]}
    assert rows["tflite_float32"]["status"] == "ok"
    assert not [op for op in rows["tflite_float32"]["ops"] if op.startswith("CUSTOM:")]
    if kind == "transformer":
        assert rows["tflite_int8"]["status"] == "ok"
        assert rows["tflite_int8"]["source"] == "Keras 3 model (batch 1)"
    else:   # a WHILE loop: no fused int8 kernel, and the converter would crash
        assert rows["tflite_int8"]["status"] == "skipped"
        assert "WHILE" in rows["tflite_float32"]["ops"] and "WHILE loop" in rows["tflite_int8"]["note"]
