"""Shared pieces of the serving tests: the example pipeline's exported model, servers on loopback.

Every server listens on 127.0.0.1 only; every wait below has a time limit.
"""
from __future__ import annotations

import contextlib
import csv
import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "stock_forecast")
MODEL = "msft_close"


@dataclass
class Exported:
    """The example pipeline run once (1 epoch) in ``folder``, with its own MLflow store."""

    folder: str
    config: str
    serving_dir: str
    tracking_uri: str

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(PYTHONPATH=ROOT, MLFLOW_TRACKING_URI=self.tracking_uri,
                   PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
        return env


def run_example_pipeline(folder: str) -> Exported:
    """Run the stock example through the CLI with 1 epoch, blessing whatever it trains."""
    with open(os.path.join(EXAMPLE, "pipeline.yaml"), encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    cfg["data"]["path"] = os.path.join(EXAMPLE, cfg["data"]["path"])
    cfg["training"]["epochs"] = 1
    cfg["evaluation"]["blessing"] = {"max_ratio_to_best_baseline": None, "max_regression_vs_champion": None}
    cfg["compression"]["enabled"] = False   # serve the float model alone
    config = os.path.join(folder, "pipeline.yaml")
    with open(config, "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh)
    exported = Exported(folder, config, os.path.join(folder, "output", "serving"),
                        f"sqlite:///{folder}/mlruns/mlflow.db")
    done = subprocess.run([sys.executable, "-m", "seqline", "run", config, "--quiet"],
                          cwd=folder, env=exported.env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return exported


def msft_windows(count: int, lookback: int = 30) -> np.ndarray:
    """The last ``count`` raw [Close, Volume] windows of the example's CSV, float32."""
    with open(os.path.join(EXAMPLE, "data", "msft_daily.csv"), encoding="utf-8") as fh:
        rows = [[float(r["Close"]), float(r["Volume"])] for r in csv.DictReader(fh)]
    values = np.asarray(rows[-(lookback + count - 1):], np.float32)
    return np.stack([values[i:i + lookback] for i in range(count)])


def python_forecast(version_dir: str, windows: np.ndarray) -> np.ndarray:
    """What the exported model answers in Python (TensorFlow, no server)."""
    import tensorflow as tf

    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    return signature(window=tf.constant(windows))["forecast"].numpy()


def call(base_url: str, method: str, path: str, body=None, headers=None, timeout: float = 30):
    """``(status, decoded JSON)`` of one request (a dict/list body is sent as JSON)."""
    host, port = base_url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@contextlib.contextmanager
def serving_thread(base_path: str, access_log=None, **options):
    """A ``ServingServer`` on a free loopback port in this process; yields ``(url, registry)``."""
    from seqline.serving import payload, registry, server

    limits = payload.Limits(**{k: options.pop(k) for k in ("max_body_bytes", "max_batch", "allow_nan")
                               if k in options})
    batching = options.pop("batching", None)
    models = registry.ModelRegistry(base_path, echo=lambda line: None, **options)
    models.refresh()
    httpd = server.ServingServer(("127.0.0.1", 0), models, limits, server.AccessLog(access_log),
                                 batching=batching)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", models
    finally:
        httpd.shutdown()
        httpd.server_close()
        models.stop()
        thread.join(timeout=10)


@contextlib.contextmanager
def cli_server(args: list, cwd: str, env: dict, timeout: float = 120):
    """``seqline serve ARGS --port 0`` in a subprocess; yields ``(url, stderr lines so far)``."""
    proc = subprocess.Popen([sys.executable, "-m", "seqline", "serve", *args, "--port", "0"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"seqline serve did not start in {timeout}s: {seen[-20:]}")
            seen.append(line)
            found = re.search(r"serving .* at (http://[0-9.]+:[0-9]+)/", line)
            if found:
                break
        yield found[1], seen
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on a new connection; everything the server sends until it closes."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
