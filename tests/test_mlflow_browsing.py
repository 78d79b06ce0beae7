"""A finished pipeline run as a team browses it: ``mlflow server`` on loopback, its REST API and
its web UI in headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from seqline.pipeline.dag import DEFAULT_STAGES as STAGES

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(finished_run):
    """``mlflow server`` on the finished run's store; yields its base URL."""
    port = free_port()
    log = open(finished_run.tmp / "mlflow-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", finished_run.tracking_uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=finished_run.tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None, open(log.name).read()[-2000:]
        assert time.time() < deadline, "mlflow server did not start"
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    log.close()


def api(url: str, path: str, body: dict | None = None, **query):
    full = f"{url}/api/2.0/mlflow/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(full, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def tags(run: dict) -> dict:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def test_rest_api_shows_the_pipeline_run_with_stages_metrics_params_plots_and_model(server, finished_run):
    experiment = api(server, "experiments/get-by-name", experiment_name="msft_test")["experiment"]
    runs = api(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                       "max_results": 1000})["runs"]
    parent = next(r for r in runs if r["info"]["run_id"] == finished_run.result.run_id)
    assert parent["info"]["run_name"] == "msft_test" and parent["info"]["status"] == "FINISHED"
    assert {p["key"]: p["value"] for p in parent["data"]["params"]}["task"] == "forecast"
    children = {r["info"]["run_name"]: r for r in runs
                if tags(r).get("mlflow.parentRunId") == parent["info"]["run_id"]}
    assert sorted(children) == sorted(STAGES)
    for child in children.values():
        assert re.fullmatch(r"[0-9a-f]{64}", tags(child)["seqline.fingerprint"])
        assert tags(child)["seqline.cache"] == "miss"

    evaluator, trainer = children["Evaluator"], children["Trainer"]
    metrics = {m["key"]: m["value"] for m in evaluator["data"]["metrics"]}
    assert metrics["model_mase"] > 0 and metrics["naive_mase"] > 0
    history = api(server, "metrics/get-history", run_id=trainer["info"]["run_id"], metric_key="loss")
    assert [m["step"] for m in history["metrics"]] == [1, 2, 3, 4, 5, 6]
    params = {p["key"]: p["value"] for p in trainer["data"]["params"]}
    assert params["model.type"] == "lstm" and params["training.epochs"] == "6"

    for stage, plot in (("Evaluator", "forecast_vs_actual.png"), ("Evaluator", "residuals.png"),
                        ("Trainer", "loss_curves.png"), ("StatisticsGen", "statistics.png")):
        run_id = children[stage]["info"]["run_id"]
        files = {f["path"] for f in api(server, "artifacts/list", run_id=run_id)["files"]}
        assert plot in files, (stage, files)
        query = urllib.parse.urlencode({"path": plot, "run_uuid": run_id})
        with urllib.request.urlopen(f"{server}/get-artifact?{query}", timeout=30) as response:
            assert response.read(8) == b"\x89PNG\r\n\x1a\n"

    first = api(server, "model-versions/get", name="msft_test", version="1")["model_version"]
    assert first["run_id"] == children["Pusher"]["info"]["run_id"]
    # the recovery tests share this store and may push later versions: the alias names the newest
    versions = api(server, "model-versions/search", filter="name='msft_test'")["model_versions"]
    champion = api(server, "registered-models/alias", name="msft_test", alias="champion")
    assert champion["model_version"]["version"] == str(max(int(v["version"]) for v in versions))


def dump_dom(url: str, profile) -> str:
    """The page's DOM after its scripts ran, from headless Chromium with a fresh profile."""
    done = subprocess.run([shutil.which("chromium") or "chromium", *CHROMIUM_FLAGS,
                           f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                           "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", done.stdout, flags=re.S))


def test_the_runs_page_in_headless_chromium_names_the_pipeline_run_and_its_stages(server, finished_run, tmp_path):
    experiment = api(server, "experiments/get-by-name", experiment_name="msft_test")["experiment"]
    runs_page = dump_dom(f"{server}/#/experiments/{experiment['experiment_id']}/runs", tmp_path / "a")
    assert "Training runs" in runs_page and "msft_test" in runs_page
    run_page = " ".join(dump_dom(f"{server}/#/experiments/{experiment['experiment_id']}/runs/"
                                 f"{finished_run.result.run_id}", tmp_path / "b").split())
    children = re.search(r"Child runs (.*?) Source", run_page)
    assert children, run_page[:2000]
    assert sorted(n.strip() for n in children.group(1).split(",")) == sorted(STAGES)


def _processes_naming(text: str) -> list:
    """Pids of the processes whose command line contains ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if text.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_seqline_ui_stops_its_server_and_workers_on_sigterm(finished_run):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
               MLFLOW_TRACKING_URI=finished_run.tracking_uri)
    proc = subprocess.Popen([sys.executable, "-m", "seqline", "ui", "--port", str(port)],
                            cwd=finished_run.tmp, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "seqline ui did not start"
            time.sleep(0.5)
    marker = f"--port\0{port}"               # the UI's processes, not the module's server
    servers = set(_processes_naming(marker)) - {proc.pid}
    assert servers, "no MLflow server process found"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    deadline = time.time() + 30
    while servers & set(_processes_naming(marker)):
        assert time.time() < deadline, "the MLflow UI server outlived seqline ui"
        time.sleep(0.5)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))          # the port is free again


def test_the_experiment_page_opens_on_the_runs_not_the_genai_overview(server, finished_run,
                                                                      tmp_path):
    experiment = api(server, "experiments/get-by-name", experiment_name="msft_test")["experiment"]
    kinds = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert kinds["mlflow.experimentKind"] == "custom_model_development"
    from seqline.pipeline import tracking

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", finished_run.tracking_uri)
        start = tracking.start_page(finished_run.config)    # what seqline ui prints
    page = dump_dom(f"{server}/{start}", tmp_path / "c")
    assert "msft_test" in page and "Model registry" in page, page[:2000]   # model-training view
    assert "Detect Issues" not in page and "No data available" not in page, page[:2000]


def test_seqline_ui_starts_at_the_experiment_of_the_config_or_the_newest_run(server, finished_run):
    from seqline.pipeline import tracking

    experiment = api(server, "experiments/get-by-name", experiment_name="msft_test")["experiment"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", finished_run.tracking_uri)
        expected = f"#/experiments/{experiment['experiment_id']}/runs?workflowType=machine_learning"
        assert tracking.start_page(finished_run.config) == expected
        assert tracking.start_page(None) == expected
