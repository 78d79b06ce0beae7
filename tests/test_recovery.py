"""Crashes and concurrent runs, for real: ``seqline run`` subprocesses are SIGKILLed during
Transform and during training, and compete for the pipeline root's lock."""
from __future__ import annotations

import fcntl
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast.data import load_arrays
from seqline.pipeline.dag import DEFAULT_STAGES as STAGES
from seqline.pipeline.executions import EXECUTION_FILE, latest_execution
from seqline.pipeline.lock import LOCK_FILE, pipeline_lock
from tests.forecast_fixtures import ROOT, pipeline_yaml

EPOCHS = 6    # as in the shared finished_run


class Cli:
    """A ``seqline run`` subprocess whose output lines are collected as they come."""

    def __init__(self, folder, config, *args):
        env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1",
                   MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlflow.db")
        self.proc = subprocess.Popen([sys.executable, "-m", "seqline", "run", config, *args],
                                     cwd=folder, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 240) -> str:
        """The first new output line matching ``pattern``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"exited before {pattern!r}:\n" + "\n".join(self.lines[-30:]))
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in {timeout}s")

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def assert_no_run_left_running(tmp) -> None:
    """Every MLflow run in the folder's store has ended (the killed ones as KILLED)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    statuses = [r.info.status for r in runs]
    assert "RUNNING" not in statuses and statuses.count("KILLED") >= 2, statuses


def assert_nothing_half_done_is_complete(root: str) -> None:
    """Every numbered execution is complete (execution.json, every output's artifact.json); an
    artifact.json elsewhere is only ever inside a temporary folder the runner never reads."""
    for base, dirs, files in os.walk(root):
        name = os.path.basename(base)
        if name.isdigit() and os.path.dirname(os.path.dirname(base)) == root:
            assert EXECUTION_FILE in files, f"{base} has no {EXECUTION_FILE}"
            record = json.load(open(os.path.join(base, EXECUTION_FILE)))
            for uri in record["outputs"].values():
                assert os.path.isfile(os.path.join(uri, "artifact.json")), uri
        if "artifact.json" in files:
            execution = os.path.basename(os.path.dirname(base))
            assert execution.isdigit() or ".tmp-" in execution, base


def predictions(folder: str, windows: np.ndarray) -> np.ndarray:
    """Forecasts of the newest exported model under a pipeline's serving dir."""
    model_dir = os.path.join(folder, "serving", "msft_test")
    version = max(int(v) for v in os.listdir(model_dir) if v.isdigit())
    serve = tf.saved_model.load(os.path.join(model_dir, str(version))).signatures["serving_default"]
    return serve(window=tf.constant(windows))["forecast"].numpy()


@pytest.fixture(scope="module")
def reference(finished_run):
    """The shared uninterrupted run, and the test windows to compare forecasts on."""
    transformed = finished_run.result.artifacts[("Transform", "transformed_examples")]
    windows = load_arrays(split_pattern(transformed.uri, "test"), transformed.properties)["window"]
    return finished_run.tmp, finished_run.config, finished_run.cfg, finished_run.result, windows


def test_an_unchanged_rerun_reuses_every_stage(reference):
    tmp, path, _, result, _ = reference
    run = Cli(tmp, path)
    assert run.finish() == 0, run.text
    for stage in STAGES:
        assert re.search(rf"↺ {stage} reused in \d", run.text), run.text
    assert f"{len(STAGES)} of {len(STAGES)} stages reused" in run.text


def test_a_second_run_on_a_busy_root_exits_with_a_clear_message(reference):
    tmp, path, cfg, _, _ = reference
    with pipeline_lock(cfg["pipeline_root"]):
        run = Cli(tmp, path)
        assert run.finish(60) == 4
    assert len(run.lines) == 1, run.text
    assert run.lines[0].startswith(f"seqline: error: pipeline root {cfg['pipeline_root']} is in use "
                                   f"by pid {os.getpid()} on ")
    assert run.lines[0].endswith("try again when it finishes, or add --wait")


def test_with_wait_a_second_run_waits_for_the_first(reference):
    tmp, path, cfg, _, _ = reference
    with pipeline_lock(cfg["pipeline_root"]):
        run = Cli(tmp, path, "--wait", "--until", "ExampleGen")
        run.wait_for(f"waiting for the run holding .* \\(pid {os.getpid()} ", timeout=60)
        time.sleep(1.0)
        assert run.proc.poll() is None                 # still waiting
    assert run.finish() == 0, run.text
    assert "ExampleGen reused" in run.text


def test_sigkill_during_transform_and_training_then_a_normal_run_ends_in_the_same_model(reference):
    tmp, _, _, ref, windows = reference
    path, cfg = pipeline_yaml(tmp, "killed", epochs=EPOCHS)
    root = cfg["pipeline_root"]

    run = Cli(tmp, path)
    run.wait_for(r"\] Transform ")
    transform_dir, deadline = os.path.join(root, "Transform"), time.time() + 60
    while not (os.path.isdir(transform_dir) and any(".tmp-" in d for d in os.listdir(transform_dir))):
        assert time.time() < deadline, "Transform never started writing"
        time.sleep(0.02)
    run.proc.send_signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    assert latest_execution(root, "Transform") is None
    assert latest_execution(root, "ExampleValidator") is not None
    assert_nothing_half_done_is_complete(root)
    with open(os.path.join(root, LOCK_FILE)) as fh:    # the dead run's lock is free
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert json.load(fh)["pid"] == run.proc.pid

    run = Cli(tmp, path)
    assert re.search(r"removed Transform/\.1\.tmp-\d+, left by an interrupted run",
                     run.wait_for(r"removed "))
    for stage in ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator"):
        run.wait_for(f"{stage} reused")
    run.wait_for(r"epoch 1/")
    run.proc.send_signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    assert "KILLED: its process was killed" in run.text      # the run killed in Transform
    assert latest_execution(root, "Trainer") is None and latest_execution(root, "Transform")
    assert_nothing_half_done_is_complete(root)

    run = Cli(tmp, path)
    resumed = int(run.wait_for(r"resuming after epoch \d+ from the checkpoint").split()[3])
    assert 1 <= resumed < EPOCHS
    assert run.finish() == 0, run.text
    assert len(re.findall(r"marked MLflow run \w+ KILLED: its process was killed", run.text)) == 1
    assert_no_run_left_running(tmp)
    assert "Transform reused" in run.text
    assert [line.split()[1] for line in run.lines if line.strip().startswith("epoch ")] == \
        [f"{e}/{EPOCHS}" for e in range(resumed + 1, EPOCHS + 1)]
    assert_nothing_half_done_is_complete(root)

    ours = keras.saving.load_model(os.path.join(latest_execution(root, "Trainer"), "model", "model.keras"))
    theirs = keras.saving.load_model(ref.artifacts[("Trainer", "model")].path("model.keras"))
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(predictions(str(tmp / "killed"), windows),
                                  predictions(str(tmp / "reference"), windows))


def test_the_pusher_removes_temporaries_of_dead_processes_only(tmp_path):
    from seqline.components.pusher import remove_dead_temporaries

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for name in (f".tmp-msft-{gone.pid}", f".old-msft-{gone.pid}", f".tmp-msft-{os.getpid()}",
                 f".tmp-other-{gone.pid}", "1"):
        (tmp_path / name).mkdir()
    removed = remove_dead_temporaries(str(tmp_path), "msft")
    assert sorted(os.path.basename(p) for p in removed) == [f".old-msft-{gone.pid}",
                                                           f".tmp-msft-{gone.pid}"]
    assert sorted(os.listdir(tmp_path)) == sorted(["1", f".tmp-msft-{os.getpid()}",
                                                   f".tmp-other-{gone.pid}"])
