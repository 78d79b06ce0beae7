"""Both example configs end to end with few epochs, as a user runs them: artifacts, metrics next
to the majority baseline, MLflow, and the exported model in a fresh process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from seqline.components.split_io import split_pattern
from seqline.components.tasks.sequence.data import load_arrays
from seqline.components.tasks.sequence.evaluate import stitch_pieces
from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.config import load_config
from seqline.models import load_model
from seqline.pipeline.runner import latest_execution, run_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SERVE = """
import sys, numpy as np, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
inputs = np.load(sys.argv[2])
out = serve(series=tf.constant(inputs["series"]), lengths=tf.constant(inputs["lengths"]))
np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
"""


def example_config(tmp, example: str, epochs: int) -> str:
    """The example's YAML with absolute data paths and ``epochs``, written under ``tmp``."""
    folder = os.path.join(EXAMPLES, example)
    with open(os.path.join(folder, "pipeline.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    for key in ("path", "test_path"):
        if key in cfg["data"]:
            cfg["data"][key] = os.path.join(folder, cfg["data"][key])
    cfg["training"]["epochs"] = epochs
    cfg["evaluation"]["blessing"] = {"min_accuracy": None, "beat_baseline": False}
    cfg["compression"] = {"enabled": False}   # tests/test_sequence_compression.py covers it
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def served(tmp, model_dir: str, series: np.ndarray, lengths: np.ndarray) -> dict:
    """The exported model's outputs, computed in a fresh Python process."""
    np.savez(tmp / "inputs.npz", series=series.astype(np.float32), lengths=lengths.astype(np.int32))
    done = subprocess.run([sys.executable, "-c", SERVE, model_dir, str(tmp / "inputs.npz"),
                           str(tmp / "outputs.npz")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(np.load(tmp / "outputs.npz", allow_pickle=True))


def artifact(root: str, stage: str, name: str) -> Artifact:
    return Artifact.load(os.path.join(latest_execution(root, stage), name))


# --- classify: BasicMotions through the CLI --------------------------------------------------

def cli_run(tmp, *args) -> str:
    """``seqline run ARGS`` in a fresh process in ``tmp`` with the default MLflow store."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "seqline", "run", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("motion")
    stdout = cli_run(tmp, example_config(tmp, "motion_classify", epochs=3))
    return tmp, str(tmp / "output" / "pipeline"), stdout


def test_classify_reports_metrics_next_to_the_majority_baseline(motion):
    tmp, root, stdout = motion
    assert "epoch 3/3" in stdout and "exported version 1" in stdout
    assert "32 train, 8 eval, 40 test series" in stdout
    assert "vs majority baseline" in stdout
    evaluation = artifact(root, "Evaluator", "evaluation")
    with open(evaluation.path("metrics.json")) as fh:
        report = json.load(fh)
    model, majority = report["metrics"]["model"], report["metrics"]["majority"]
    assert report["test_series"] == 40
    assert majority["accuracy"] == 0.25          # the test split has 10 series per activity
    assert majority["per_class"][report["baseline_label"]]["recall"] == 1.0
    assert set(model["per_class"]) == {"Badminton", "Running", "Standing", "Walking"}
    assert sum(map(sum, model["confusion"])) == 40
    assert 0.0 <= model["macro_f1"] <= 1.0 and np.isfinite(model["accuracy"])
    for name in ("confusion_matrix.png", "report.txt", "predictions.csv"):
        assert os.path.getsize(evaluation.path(name)) > 0
    assert "majority F1" in open(evaluation.path("report.txt")).read()


def test_classify_export_in_a_fresh_process_matches_the_pipeline_model(motion):
    tmp, root, _ = motion
    examples = artifact(root, "Transform", "transformed_examples")
    data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
    model = load_model(os.path.join(latest_execution(root, "Trainer"), "model", "model.keras"))
    expected = model.predict(data["x"], verbose=0)
    classes = artifact(root, "Transform", "transform_graph").properties["classes"]
    # raw series padded past max_length with garbage: the lengths say where each one ends
    series = np.concatenate([data["series"], np.full((40, 30, 6), 123.0)], axis=1)
    out = served(tmp, str(tmp / "output" / "serving" / "motion_activity" / "1"), series,
                 data["length"])
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    labels = [label.decode() for label in out["label"]]
    assert labels == [classes[i] for i in expected.argmax(1)]


def test_classify_champion_is_registered_and_predicts_labels_through_mlflow(motion):
    tmp, root, _ = motion
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlruns/mlflow.db")
    try:
        loaded = mlflow.pyfunc.load_model("models:/motion_activity@champion")
        examples = artifact(root, "Transform", "transformed_examples")
        data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
        short = data["series"][:3, :70]        # any number of steps: these series end early
        out = loaded.predict({"series": short, "lengths": np.full(3, 70, np.int32)})
    finally:
        mlflow.set_tracking_uri(None)
    assert out["probabilities"].shape == (3, 4)
    assert set(out["label"]) <= {"Badminton", "Running", "Standing", "Walking"}


def test_classify_rerun_from_the_evaluator_rescores_the_champion(motion):
    tmp, root, _ = motion
    stdout = cli_run(tmp, str(tmp / "pipeline.yaml"), "--from", "Evaluator", "--no-cache")
    with open(artifact(root, "Evaluator", "evaluation").path("metrics.json")) as fh:
        report = json.load(fh)
    assert report["champion_version"] == 1
    assert report["metrics"]["champion"]["accuracy"] == report["metrics"]["model"]["accuracy"]
    assert "version 1 already holds this model" in stdout     # blessed, but not pushed twice


# --- label: ECG in process -----------------------------------------------------------------

@pytest.fixture(scope="module")
def ecg(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ecg")
    cfg = load_config(example_config(tmp, "ecg_label", epochs=2))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
    try:
        result = run_pipeline(cfg, quiet=True)
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    return tmp, cfg, result


def test_label_scores_every_test_step_per_class_next_to_the_baseline(ecg):
    _, cfg, result = ecg
    evaluation = result.artifacts[("Evaluator", "evaluation")]
    with open(evaluation.path("metrics.json")) as fh:
        report = json.load(fh)
    assert report["test_steps"] == 450        # the last 6% of the 7,500 samples
    majority = report["metrics"]["majority"]
    assert report["baseline_label"] == "0" and majority["per_class"]["1"]["f1"] == 0.0
    assert majority["per_class"]["1"]["support"] == 238     # abnormal samples 7050..7287
    model = report["metrics"]["model"]["per_class"]
    assert set(model) == {"0", "1"} and all(0 <= model[c]["f1"] <= 1 for c in model)
    assert report["rarest_class"] == "1"
    assert os.path.getsize(evaluation.path("labeled_series.png")) > 0
    with open(evaluation.path("predictions.csv")) as fh:
        assert sum(1 for _ in fh) == 451


def test_label_export_in_a_fresh_process_matches_the_stitched_pipeline_predictions(ecg):
    tmp, _, result = ecg
    examples = result.artifacts[("Transform", "transformed_examples")]
    data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
    model = load_model(result.artifacts[("Trainer", "model")].path("model.keras"))
    piece = stitch_pieces(data, model.predict(data["x"], verbose=0))[0]
    n = len(piece["true"])
    series = np.concatenate([piece["values"], np.zeros((50, 1))])[None]   # padded after the end
    out = served(tmp, result.artifacts[("Pusher", "pushed_model")].properties["path"], series,
                 np.array([n]))
    np.testing.assert_allclose(out["probabilities"][0, :n], piece["probabilities"], atol=1e-5)
    assert not out["probabilities"][0, n:].any()
    labels = [label.decode() for label in out["labels"][0]]
    assert labels[:n] == ["01"[i] for i in piece["probabilities"].argmax(1)]
    assert set(labels[n:]) == {""}
