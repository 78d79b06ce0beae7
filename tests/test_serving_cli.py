"""``seqline serve`` as a user runs it: the docs' curl request, and a version hot swap under load."""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import yaml

from tests.serving_helpers import (MODEL, ROOT, call, cli_server, msft_windows, python_forecast,
                                   raw_exchange)


def readme_curl() -> tuple:
    """``(path, body)`` of the curl predict example in the serving page's REST server section."""
    with open(os.path.join(ROOT, "docs", "serving.md"), encoding="utf-8") as fh:
        section = fh.read().split("## The REST server", 1)[1]
    command = next(block for block in re.findall(r"```bash\n(.*?)```", section, re.S)
                   if block.startswith("curl") and ":predict" in block)
    url, body = re.fullmatch(r"curl -s (\S+) -d '(.*)'\s*", command, re.S).groups()
    assert url.startswith("http://127.0.0.1:8501/")
    return url[len("http://127.0.0.1:8501"):], body


def test_the_documented_curl_request_answers_like_the_model_in_python(exported):
    path, body = readme_curl()
    window = np.asarray(json.loads(body)["instances"], np.float32)
    np.testing.assert_array_equal(window, msft_windows(1))   # the docs show the real last 30 days
    with cli_server(["--model-base-path", "output/serving"], exported.folder, exported.env()) as (url, _):
        status, answer = call(url, "POST", path, body)
    assert status == 200 and list(answer) == ["predictions"]
    expected = python_forecast(os.path.join(exported.serving_dir, MODEL, "1"), window)
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-6)


def test_cli_rejects_bad_arguments_in_one_line(exported, tmp_path):
    for args, message in ((["--model-base-path", str(tmp_path / "none")], "not a folder"),
                          (["--model-base-path", ".", "--versions", "newest"], "--versions 'newest'"),
                          (["--model-base-path", ".", "--label", "x"], "--label 'x'"),
                          (["--model-base-path", ".", "--max-batch-size", "0"], "--max-batch-size"),
                          (["--model-base-path", ".", "--request-timeout", "0"], "--request-timeout"),
                          (["--model-base-path", ".", "--batching", "--batch-size", "0"],
                           "--batch-size"),
                          (["--model-base-path", ".", "--batch-timeout-ms", "-1"],
                           "--batch-timeout-ms")):
        done = subprocess.run([sys.executable, "-m", "seqline", "serve", *args], cwd=tmp_path,
                              env=exported.env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_request_timeout_flag_sets_how_long_a_stalled_body_may_wait(exported, tmp_path):
    args = ["--model-base-path", str(tmp_path), "--request-timeout", "1.5", "--access-log", "off"]
    with cli_server(args, exported.folder, exported.env()) as (url, _):
        answer = raw_exchange(url, f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n"
                              "Content-Length: 50\r\n\r\n{".encode())   # then the client stalls
    assert answer.startswith(b"HTTP/1.1 408")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": "request timeout: the body stopped arriving (nothing for 1.5s; Content-Length is 50)"}


class Load:
    """Clients on keep-alive connections posting one window each, until stopped or bounded."""

    def __init__(self, url: str, window: np.ndarray, clients: int = 2, pause: float = 0.004,
                 max_requests: int = 40_000, max_seconds: float = 300):
        self.host, self.port = url.split("//")[1].split(":")
        self.body = json.dumps({"instances": window.tolist()})
        self.pause, self.max_requests, self.deadline = pause, max_requests, time.monotonic() + max_seconds
        self.stop = threading.Event()
        self.answers = [[] for _ in range(clients)]     # per client, in order
        self.failures = []
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def _client(self, i: int) -> None:
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        while not self.stop.is_set() and time.monotonic() < self.deadline \
                and len(self.answers[i]) < self.max_requests:
            try:
                conn.request("POST", f"/v1/models/{MODEL}:predict", self.body)
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    self.failures.append(f"{response.status}: {data[:200]!r}")
                else:
                    self.answers[i].append(json.loads(data)["predictions"][0][0])
            except Exception as exc:   # a dropped connection is a failed request too
                self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
            time.sleep(self.pause)
        conn.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_a_version_exported_during_a_load_test_is_switched_to_with_zero_failed_requests(exported,
                                                                                          tmp_path):
    base = tmp_path / "serving"
    shutil.copytree(os.path.join(exported.serving_dir, MODEL, "1"), base / MODEL / "1")
    with open(exported.config, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    cfg["pipeline_root"] = os.path.join(exported.folder, "output", "pipeline")
    cfg["pusher"] = {"serving_dir": str(base), "register": False}
    cfg["training"]["seed"] = 7          # a different model, so answers tell the versions apart
    config = tmp_path / "retrain.yaml"
    config.write_text(yaml.safe_dump(cfg))
    window = msft_windows(1)
    log = tmp_path / "access.jsonl"
    args = ["--model-base-path", str(base), "--poll-seconds", "0.2", "--access-log", str(log)]
    with cli_server(args, exported.folder, exported.env()) as (url, _), Load(url, window) as load:
        time.sleep(1.0)
        retrain = subprocess.run([sys.executable, "-m", "seqline", "run", str(config),
                                  "--from", "Trainer", "--quiet"], cwd=exported.folder,
                                 env=exported.env(), capture_output=True, text=True, timeout=400)
        assert retrain.returncode == 0, retrain.stderr[-3000:]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and call(url, "GET", f"/v1/models/{MODEL}")[1] != {
                "model_version_status": [{"version": "2", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}:
            time.sleep(0.1)
        served = min(len(a) for a in load.answers)
        while time.monotonic() < deadline and min(len(a) for a in load.answers) < served + 50:
            time.sleep(0.05)                    # some more requests on the new version
    assert load.failures == []
    v1 = python_forecast(str(base / MODEL / "1"), window)[0, 0]
    v2 = python_forecast(str(base / MODEL / "2"), window)[0, 0]
    assert abs(v1 - v2) > 1e-4, "the retrained model should answer differently"
    for answers in load.answers:
        which = [1 if np.isclose(a, v1, rtol=1e-6) else 2 if np.isclose(a, v2, rtol=1e-6) else 0
                 for a in answers]
        assert 0 not in which                                    # every answer is one version's
        switch = which.index(2)
        assert 0 < switch and set(which[switch:]) == {2}          # v1, then v2 for good
    records = [json.loads(line) for line in log.read_text().splitlines()]
    predicts = [r for r in records if r["path"].endswith(":predict")]
    assert len(predicts) == sum(len(a) for a in load.answers) and len(predicts) > 200
    assert {r["status"] for r in predicts} == {200} and {r["version"] for r in predicts} == {1, 2}
