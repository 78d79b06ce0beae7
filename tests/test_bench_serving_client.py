"""bench/serving.py's load generators: the raw-socket client reads the same answers as http.client."""
import importlib.util
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.forecast_fixtures import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_serving", os.path.join(ROOT, "bench", "serving.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Echo(BaseHTTPRequestHandler):
    """Keep-alive answers: 200 with the body doubled on /ok, 404 elsewhere; bodies of any size."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status, answer = (200, body * 2) if self.path == "/ok" else (404, b'{"error": "no"}')
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))    # lower case: framing is read anyway
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def port():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.mark.parametrize("size", [10, 100_000])     # an answer in one read, and in many
def test_raw_and_http_client_connections_read_the_same_statuses(port, size):
    bench = load_bench()
    for path, status in (("/ok", 200), ("/missing", 404)):
        body = b"x" * size
        raw, stdlib = bench.RawConnection(port, path, body), bench.HttpClientConnection(port, path, body)
        assert [raw() for _ in range(5)] == [stdlib() for _ in range(5)] == [status] * 5
        assert raw.buffer == b""            # each answer read to its end, nothing of the next


@pytest.mark.parametrize("kind", ["raw", "http.client"])
def test_client_counts_answers_and_errors(port, kind):
    bench = load_bench()
    deadline = time.monotonic() + 30
    latencies, errors, first, last = bench.client((port, "/ok", b"{}", 20, deadline, kind))
    assert len(latencies) == 20 and errors == 0 and first <= last
    latencies, errors, _, _ = bench.client((port, "/missing", b"{}", 7, deadline, kind))
    assert latencies == [] and errors == 7
