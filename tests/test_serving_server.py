"""The REST API on loopback with the example's exported model: answers, status, errors, limits."""
import io
import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from seqline.serving.payload import Limits
from seqline.serving.registry import ModelRegistry, VersionPolicy
from seqline.serving.server import AccessLog, ServingServer
from tests.serving_helpers import (MODEL, call, msft_windows, python_forecast, raw_exchange,
                                   serving_thread)

PREDICT = f"/v1/models/{MODEL}:predict"
DEEP = b"[" * 90_000 + b"]" * 90_000      # within the fixture's 200,000-byte body limit


@pytest.fixture(scope="module")
def windows():
    return msft_windows(8)


@pytest.fixture(scope="module")
def expected(exported, windows):
    return python_forecast(os.path.join(exported.serving_dir, MODEL, "1"), windows)


@pytest.fixture(scope="module")
def server(exported):
    log = io.StringIO()
    with serving_thread(exported.serving_dir, access_log=log, max_batch=16,
                        max_body_bytes=200_000, labels={MODEL: {"stable": 1}}) as (url, _):
        yield url, log


def test_predict_in_both_formats_matches_the_model_in_python(server, windows, expected):
    url, _ = server
    assert expected.shape == (8, 1) and np.all(np.isfinite(expected))
    status, rows = call(url, "POST", PREDICT, {"instances": windows.tolist()})
    assert status == 200
    np.testing.assert_allclose(rows["predictions"], expected, rtol=1e-6)
    status, columns = call(url, "POST", PREDICT, {"inputs": {"window": windows[:1].tolist()}})
    assert status == 200 and list(columns) == ["outputs"]
    np.testing.assert_allclose(columns["outputs"], expected[:1], rtol=1e-6)
    for path in (f"/v1/models/{MODEL}/versions/1:predict", f"/v1/models/{MODEL}/labels/stable:predict"):
        status, answer = call(url, "POST", path, {"instances": windows[:2].tolist()})
        assert status == 200
        np.testing.assert_allclose(answer["predictions"], expected[:2], rtol=1e-6)


def test_status_metadata_and_health(server):
    url, _ = server
    available = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                           "status": {"error_code": "OK", "error_message": ""}}]}
    for path in (f"/v1/models/{MODEL}", f"/v1/models/{MODEL}/versions/1",
                 f"/v1/models/{MODEL}/labels/stable"):
        assert call(url, "GET", path) == (200, available)
    status, meta = call(url, "GET", f"/v1/models/{MODEL}/metadata")
    assert status == 200
    assert meta["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    window = signature["inputs"]["window"]
    assert window["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in window["tensor_shape"]["dim"]] == ["-1", "30", "2"]
    assert [d["size"] for d in signature["outputs"]["forecast"]["tensor_shape"]["dim"]] == ["-1", "1"]
    assert meta["metadata"]["seqline"]["inputs"]["window"]["columns"] == ["Close", "Volume"]
    assert call(url, "GET", "/healthz") == (200, {"status": "ok", "models": {MODEL: [1]}})


def test_health_is_503_until_a_model_appears(tmp_path):
    with serving_thread(str(tmp_path)) as (url, _):
        assert call(url, "GET", "/healthz") == (503, {"status": "no model loaded", "models": {}})
        status, answer = call(url, "GET", f"/v1/models/{MODEL}")
        assert status == 404 and answer == {"error": f"model '{MODEL}' is not served (models: none yet)"}


BAD_REQUESTS = [
    ("POST", PREDICT, {"instances": [[[1.0, 2.0]]]}, 400, "has shape [1, 1, 2]; the model expects [batch, 30, 2]"),
    ("POST", PREDICT, b"{oops", 400, "body is not valid JSON"),
    ("POST", PREDICT, {"inputs": "abc"}, 400, "must hold numbers (float32), got strings"),
    ("POST", PREDICT, {"inputs": [[[1.0, 1.0]] * 29 + [[float("nan"), 1.0]]]}, 400,
     "input 'window' is NaN at index [0, 29, 0]"),
    ("POST", PREDICT, {"instances": [[[0.0, 0.0]] * 30] * 17}, 400, "exceeds the server's limit of 16"),
    ("POST", PREDICT, DEEP, 400, "request body: JSON nested too deeply"),
    ("POST", PREDICT, b'{"instances": ' + DEEP + b"}", 400, "request body: JSON nested too deeply"),
    ("POST", PREDICT, {"instances": [[[1.0, 1.0]] * 29 + [[1e39, 1.0]]]}, 400,
     "input 'window' is out of float32 range at index [0, 29, 0]: 1e+39"),
    ("POST", PREDICT, {"instances": [[[1.0, 1.0]] * 29 + [[1.0, 10 ** 39]]]}, 400,
     "input 'window' is out of float32 range at index [0, 29, 1]: 1e+39"),
    ("POST", "/v1/models/nope:predict", {"instances": []}, 404, "model 'nope' is not served (models: msft_close)"),
    ("POST", "/v1/models/..%2F..%2Fetc%2Fpasswd:predict", {}, 400, "invalid model name '../../etc/passwd'"),
    ("POST", "/v1/models/%2e%2e:predict", {}, 400, "invalid model name '..'"),
    ("GET", "/v1/models/../../etc/passwd", None, 404, "no route GET /v1/models/../../etc/passwd"),
    ("POST", f"/v1/models/{MODEL}/versions/9:predict", {"instances": []}, 404, "version 9 of model"),
    ("POST", f"/v1/models/{MODEL}/versions/x:predict", {}, 400, "version must be a non-negative integer"),
    ("POST", f"/v1/models/{MODEL}/labels/nope:predict", {}, 404, "label 'nope' is not defined"),
    ("POST", f"/v1/models/{MODEL}:classify", {}, 400, "':classify' is not supported"),
    ("GET", PREDICT, None, 405, "GET is not allowed"),
    ("POST", f"/v1/models/{MODEL}", {}, 405, "POST is not allowed"),
    ("GET", f"/v1/models/{MODEL}/versions/4", None, 404, "version 4 of model 'msft_close' is not served"),
    ("DELETE", f"/v1/models/{MODEL}", None, 501, "Unsupported method ('DELETE')"),
    ("GET", "/", None, 404, "no route GET /"),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD_REQUESTS)
def test_bad_requests_get_a_json_error_and_the_server_goes_on(server, windows, expected,
                                                              method, path, body, status, message):
    url, _ = server
    got, answer = call(url, method, path, body)
    assert got == status and list(answer) == ["error"] and message in answer["error"], answer
    got, answer = call(url, "POST", PREDICT, {"instances": windows[:1].tolist()})
    assert got == 200
    np.testing.assert_allclose(answer["predictions"], expected[:1], rtol=1e-6)


def test_oversize_unframed_and_malformed_http_is_refused(server, windows, expected):
    url, _ = server
    huge = raw_exchange(url, f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n"
                        .encode())   # the body is never sent: the server answers without reading it
    assert huge.startswith(b"HTTP/1.1 413") and b"exceeds the server's limit of 200000" in huge
    no_length = raw_exchange(url, f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             .encode())
    assert no_length.startswith(b"HTTP/1.1 411") and b"Content-Length" in no_length
    chunked = raw_exchange(url, f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                           "\r\n\r\n5\r\nhello\r\n0\r\n\r\n".encode())
    assert chunked.startswith(b"HTTP/1.1 411")
    headers = raw_exchange(url, b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n")
    assert headers.startswith(b"HTTP/1.1 431") and b'{"error": "Too many headers"}' in headers
    garbage = raw_exchange(url, b"\x16\x03\x01 nonsense\r\n\r\n")   # e.g. TLS to a plain port
    assert garbage.startswith(b'{"error": "Bad HTTP/0.9 request type')
    got, answer = call(url, "POST", PREDICT, {"instances": windows[:1].tolist()})
    assert got == 200
    np.testing.assert_allclose(answer["predictions"], expected[:1], rtol=1e-6)


def test_a_stalled_body_gets_408_when_the_timeout_passes(tmp_path):
    log = io.StringIO()
    httpd = ServingServer(("127.0.0.1", 0), ModelRegistry(str(tmp_path), echo=lambda line: None),
                          Limits(), AccessLog(log), request_timeout=1)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        answer = raw_exchange(f"http://127.0.0.1:{httpd.server_address[1]}",
                              f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                              '{"instances": [['.encode())   # then nothing: the client stalls
        waited = time.monotonic() - start
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": "request timeout: the body stopped arriving (nothing for 1s; Content-Length is 100)"}
    assert 0.9 < waited < 10
    assert json.loads(log.getvalue())["status"] == 408


def test_access_log_has_one_json_line_per_request(server, windows):
    url, log = server
    before = len(log.getvalue().splitlines())
    call(url, "POST", f"/v1/models/{MODEL}/versions/1:predict", {"instances": windows[:3].tolist()})
    call(url, "POST", PREDICT, {"instances": [[[1.0, 2.0]]]})
    lines = [json.loads(line) for line in log.getvalue().splitlines()[before:]]
    assert len(lines) == 2
    ok, bad = lines
    assert ok["status"] == 200 and ok["model"] == MODEL and ok["version"] == 1 and ok["batch"] == 3
    assert ok["method"] == "POST" and ok["client"] == "127.0.0.1" and ok["ms"] > 0
    assert ok["bytes_in"] > 0 and ok["bytes_out"] > 0 and "error" not in ok
    assert bad["status"] == 400 and "has shape [1, 1, 2]" in bad["error"]


def test_access_log_lines_reach_a_file_within_the_flush_interval_and_at_close(tmp_path):
    path = tmp_path / "access.jsonl"
    with open(path, "a", encoding="utf-8") as stream:
        timed = AccessLog(stream, flush_seconds=0.1)
        timed.write({"status": 200, "n": 1})
        deadline = time.monotonic() + 10
        while not path.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [json.loads(line) for line in path.read_text().splitlines()] == [{"status": 200, "n": 1}]
        timed.close()
        log = AccessLog(stream, flush_seconds=3600)     # never flushed by time: by close only
        log.write({"status": 404, "n": 2})
        assert len(path.read_text().splitlines()) == 1
        log.close()
        assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [1, 2]


def test_concurrent_clients_all_get_the_right_answer(server, windows, expected):
    url, _ = server
    results = []

    def client(i):
        for j in range(10):
            k = (i + j) % len(windows)
            status, answer = call(url, "POST", PREDICT, {"instances": windows[k:k + 1].tolist()})
            results.append(status == 200 and np.allclose(answer["predictions"], expected[k:k + 1],
                                                         rtol=1e-6))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 60 and all(results)


def test_allow_nan_passes_missing_values_to_the_model(exported, windows, expected, tmp_path):
    gappy = windows[:1].copy()
    gappy[0, 5, 1] = np.nan          # one missing volume: the exported model fills it forward
    with serving_thread(exported.serving_dir, allow_nan=True) as (url, _):
        status, answer = call(url, "POST", PREDICT, {"instances": gappy.tolist()})
    assert status == 200 and np.all(np.isfinite(answer["predictions"]))
    filled = python_forecast(os.path.join(exported.serving_dir, MODEL, "1"), gappy)
    np.testing.assert_allclose(answer["predictions"], filled, rtol=1e-6)


def test_exported_signature_is_what_tensorflow_serving_loads(exported):
    """``saved_model_cli show --tag_set serve --signature_def serving_default``, as a test."""
    from tensorflow.python.framework import op_def_registry
    from tensorflow.python.tools import saved_model_utils

    version_dir = os.path.join(exported.serving_dir, MODEL, "1")
    meta_graph = saved_model_utils.get_meta_graph_def(version_dir, "serve")
    signature = meta_graph.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"

    def described(infos):
        return {k: (v.dtype, [d.size for d in v.tensor_shape.dim]) for k, v in infos.items()}

    assert described(signature.inputs) == {"window": (1, [-1, 30, 2])}      # 1 = DT_FLOAT
    assert described(signature.outputs) == {"forecast": (1, [-1, 1])}
    ops = {node.op for node in meta_graph.graph_def.node}
    ops |= {node.op for fn in meta_graph.graph_def.library.function for node in fn.node_def}
    custom = sorted(op for op in ops if op_def_registry.get(op) is None
                    and op not in {f.signature.name for f in meta_graph.graph_def.library.function})
    assert custom == []   # only stock TensorFlow ops: the tensorflow/serving image can run it
    assert os.path.isfile(os.path.join(version_dir, "variables", "variables.index"))


def test_a_served_model_copied_in_under_a_new_name_is_found_by_polling(exported, windows, expected,
                                                                       tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    with serving_thread(str(base), policy=VersionPolicy("latest"), poll_seconds=0.1) as (url, models):
        models.start()
        tmp = base / ".incoming"
        shutil.copytree(os.path.join(exported.serving_dir, MODEL, "1"), tmp / "5")
        os.rename(tmp, base / "renamed")
        for _ in range(300):
            if models.snapshot:
                break
            threading.Event().wait(0.1)
        status, answer = call(url, "POST", "/v1/models/renamed/versions/5:predict",
                              {"instances": windows[:2].tolist()})
    assert status == 200
    np.testing.assert_allclose(answer["predictions"], expected[:2], rtol=1e-6)
