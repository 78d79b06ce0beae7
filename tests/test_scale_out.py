"""Scale-out: the data stages on two Beam worker processes write the same bytes as in-process,
every record encoder writes the same bytes in every process, and two training processes on
loopback (MultiWorkerMirroredStrategy) train the same model."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import keras
import numpy as np
import yaml

from seqline.pipeline.runner import run_pipeline
from tests.forecast_fixtures import ROOT

BEAM_STAGES = {("ExampleGen", "examples"), ("ExampleGen", "quarantine"),
               ("StatisticsGen", "statistics"), ("Transform", "transformed_examples")}


def files_of(folder: str) -> dict:
    """Relative path -> bytes of every file in an artifact folder but artifact.json."""
    out = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            if name != "artifact.json":
                out[os.path.relpath(path, folder)] = open(path, "rb").read()
    return out


def test_data_stages_on_two_beam_workers_write_the_same_bytes(finished_run, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)              # the Beam workers import this checkout
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    cfg = {**finished_run.cfg, "pipeline_root": str(tmp_path / "pipeline")}
    multi = run_pipeline(cfg, until="Transform", quiet=True, beam_args=[
        "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    single = finished_run.result.artifacts
    for key in BEAM_STAGES:
        ours, theirs = files_of(multi.artifacts[key].uri), files_of(single[key].uri)
        assert sorted(ours) == sorted(theirs), key
        assert all(ours[name] == theirs[name] for name in ours), key
        assert multi.artifacts[key].fingerprint == single[key].fingerprint
    graph = (multi.artifacts[("Transform", "transform_graph")], single[("Transform", "transform_graph")])
    for name in ("params.json", "window_counts.json"):   # the SavedModel itself is not Beam's
        assert open(graph[0].path(name), "rb").read() == open(graph[1].path(name), "rb").read()
    written = sorted(files_of(multi.artifacts[("Transform", "transformed_examples")].uri))
    assert written == [f"Split-{s}-00000-of-00001.tfrecord.gz" for s in ("eval", "test", "train")] + [
        "window_params.json"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ENCODE_EVERY_KIND = """
import hashlib
import numpy as np
from seqline.components.tasks.speech import codec as audio_codec
from seqline.components.tasks.sequence import codec as sequence_codec
from seqline.components.tasks.text import example_gen as text_gen
seq = sequence_codec.Sequence("s1", np.arange(6.0).reshape(3, 2), ["a", "b", "a"], file="f.csv")
clip = audio_codec.Clip(np.zeros(160, np.float32), 16000, "one two", "spk", "c.wav")
line = text_gen.TextLine("t.txt", 1, 0, "hello")
data = sequence_codec.encode(seq) + audio_codec.encode(clip) + text_gen.encode_line(line)
print(hashlib.sha256(data).hexdigest())
"""


def test_records_are_encoded_to_the_same_bytes_in_every_process():
    """Sinks sort records by their bytes: a protobuf map serialized in the process's own order
    (differing from run to run) reordered the training examples, so reruns trained different
    models."""
    digests = {subprocess.run([sys.executable, "-c", ENCODE_EVERY_KIND], check=True, text=True,
                              capture_output=True, cwd=ROOT,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3")}
    assert len(digests) == 1


def test_two_workers_on_loopback_train_the_same_model(finished_run, tmp_path):
    root = tmp_path / "pipeline"
    shutil.copytree(finished_run.cfg["pipeline_root"], root,
                    ignore=shutil.ignore_patterns("Trainer", "Evaluator", "Pusher", ".state"))
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({**finished_run.cfg, "pipeline_root": str(root)}))
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    procs = []
    for index in (0, 1):
        env = dict(os.environ, PYTHONPATH=ROOT, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "seqline", "run", str(config), "--from", "Trainer",
             "--until", "Trainer"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "Trainer (worker 1 of 2)" in outputs[1]
    epochs = [[line.split("(")[0].strip() for line in out.splitlines() if line.strip().startswith("epoch ")]
              for out in outputs]
    assert len(epochs[0]) == finished_run.cfg["training"]["epochs"] and epochs[0] == epochs[1]
    chief = root / "Trainer" / "1" / "model"
    assert json.load(open(chief / "artifact.json"))["properties"]["workers"] == 2
    worker = root / ".state" / "Trainer" / "worker-1" / "model"
    ours = keras.saving.load_model(chief / "model.keras").get_weights()
    theirs = keras.saving.load_model(worker / "model.keras").get_weights()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    single = keras.saving.load_model(finished_run.result.artifacts[("Trainer", "model")].path("model.keras"))
    assert any(not np.array_equal(a, b) for a, b in zip(ours, single.get_weights()))   # really two
    assert not (root / "Trainer" / "2").exists()
