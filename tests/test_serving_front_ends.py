"""The event-loop front end answers every request byte for byte as the threading server does.

Both servers run side by side on a model base path holding no model; each exchange sends the same
bytes to both on a fresh connection, ends the client's side (EOF), and compares everything they
sent back until they closed (the ``Date`` header aside) and their access-log lines (time and
duration aside). Fixed cases cover every refusal of ``http.server``; Hypothesis builds request
heads from well-formed and malformed pieces.
"""
import contextlib
import io
import json
import re
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from seqline.serving.payload import Limits
from seqline.serving.registry import ModelRegistry
from seqline.serving.server import AccessLog, ServingServer

DATE = re.compile(rb"\r\nDate: [^\r\n]*\r\n")
LONG = 65536


@contextlib.contextmanager
def running(front_end: str, base: str, request_timeout: float = 30):
    log = io.StringIO()
    httpd = ServingServer(("127.0.0.1", 0), ModelRegistry(base, echo=lambda line: None),
                          Limits(max_body_bytes=1000), AccessLog(log), request_timeout,
                          front_end=front_end)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], log
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("no_models"))
    with running("threads", base) as threads, running("loop", base) as loop:
        yield threads, loop


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, end the sending side, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return DATE.sub(b"\r\nDate: -\r\n", b"".join(chunks))


def log_lines(log: io.StringIO, start: int) -> list:
    lines = [json.loads(line) for line in log.getvalue().splitlines()[start:]]
    return [{k: v for k, v in line.items() if k not in ("time", "ms")} for line in lines]


def assert_same(servers, data: bytes) -> bytes:
    (threads_port, threads_log), (loop_port, loop_log) = servers
    before = (len(threads_log.getvalue().splitlines()), len(loop_log.getvalue().splitlines()))
    expected = exchange(threads_port, data)
    assert exchange(loop_port, data) == expected, data[:300]
    assert log_lines(loop_log, before[1]) == log_lines(threads_log, before[0]), data[:300]
    return expected


HEAD = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
CASES = {
    "healthz": HEAD,
    "pipelined": HEAD + "GET /v1/models/m HTTP/1.1\r\n\r\nGET /nope?q=1 HTTP/1.1\r\n\r\n",
    "http 1.0": "GET /healthz HTTP/1.0\r\n\r\n" + HEAD,
    "http 1.0 keep-alive": "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + HEAD,
    "connection close": "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n" + HEAD,
    "http 0.9": "GET /healthz\r\n\r\n",
    "http 0.9 post": "POST /healthz\r\n\r\n",
    "tls": "\x16\x03\x01 nonsense\r\n\r\n",
    "bad version": "GET / FOO/1.1\r\n\r\n",
    "http 2": "GET / HTTP/2.0\r\n\r\n",
    "long version": "GET / HTTP/1.12345678901\r\n\r\n",
    "four words": "GET / x HTTP/1.1\r\n\r\n",
    "one word": "GET\r\n\r\n",
    "blank line": "\r\n" + HEAD,
    "no line end": "GET /healthz HTTP/1.1",
    "nothing": "",
    "unsupported": "DELETE /v1/models/m HTTP/1.1\r\n\r\n",
    "head": "HEAD /healthz HTTP/1.1\r\n\r\n",
    "double slash": "GET //healthz HTTP/1.1\r\n\r\n",
    "too many headers": "GET /healthz HTTP/1.1\r\n" + "X: y\r\n" * 100 + "\r\n",
    "99 headers": "GET /healthz HTTP/1.1\r\n" + "X: y\r\n" * 99 + "\r\n",
    "long header": "GET /healthz HTTP/1.1\r\nX: " + "y" * LONG + "\r\n\r\n",
    "long line": "GET /" + "a" * LONG + " HTTP/1.1\r\n",
    "longest line": "GET /" + "a" * (LONG - 16) + " HTTP/1.1\r\n\r\n",
    "chunked": "POST /v1/models/m:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad length": "POST /v1/models/m:predict HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
    "no length": "POST /v1/models/m:predict HTTP/1.1\r\n\r\n" + HEAD,
    "too long": "POST /v1/models/m:predict HTTP/1.1\r\nContent-Length: 1001\r\n\r\n",
    "short body": "POST /v1/models/m:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}",
    "body": 'POST /v1/models/m:predict HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}' + HEAD,
    "get with body": "GET /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + HEAD,
    "expect": "POST /v1/models/m:predict HTTP/1.1\r\nExpect: 100-continue\r\n"
              "Content-Length: 2\r\n\r\n{}",
    "metrics post": "POST /monitoring/prometheus/metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "folded header": "GET /healthz HTTP/1.1\r\nConnection:\r\n close\r\n\r\n" + HEAD,
    "no colon": "GET /healthz HTTP/1.1\r\nnonsense\r\nConnection: close\r\n\r\n" + HEAD,
    "bare cr": "GET /healthz HTTP/1.1\r\nX: a\rConnection: close\r\n\r\n" + HEAD,
    "latin-1": "GET /h\xe9 HTTP/1.1\r\nX: caf\xe9\r\nConnection: close\r\n\r\n",
    "duplicate": "GET /healthz HTTP/1.1\r\nConnection: close\r\nconnection: keep-alive\r\n\r\n" + HEAD,
    "bare lf": "GET /healthz HTTP/1.1\nConnection: close\n\n",
    "bare lf pipelined": "GET /healthz HTTP/1.1\n\n" + HEAD,
    "version": "GET /v1/models/m/versions/x HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_both_front_ends_answer_alike(servers, name):
    answer = assert_same(servers, CASES[name].encode("latin-1"))
    assert name == "nothing" or name == "blank line" and answer == b"" or answer


PIECES = st.sampled_from([
    "GET", "POST", "PUT", "GET /healthz", "POST /v1/models/m:predict", " ", "  ", "\t", "HTTP/1.1",
    "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1", "/", "//x", "?a=b", "\r\n", "\n", "\r",
    "Content-Length: 2", "Content-Length: 0", "Content-Length: -1", "Connection: close",
    "Connection: keep-alive", "Expect: 100-continue", "Transfer-Encoding: chunked", "X:", ":x",
    " folded", "{}", "From x", "\xe9", "\x00", "\x0b", "Host: a b "])


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PIECES, max_size=14))
def test_any_request_head_is_answered_alike(servers, pieces):
    assert_same(servers, "".join(pieces).encode("latin-1"))


@pytest.mark.parametrize("front_end", ["threads", "loop"])
def test_an_idle_or_stalled_head_is_dropped_after_the_timeout(tmp_path, capsys, front_end):
    with running(front_end, str(tmp_path), request_timeout=0.5) as (port, log):
        for data in (b"", b"GET /healthz HTTP/1.1\r\nHost:"):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(data)
                start = time.monotonic()
                assert sock.recv(100) == b""            # closed without an answer
                assert 0.4 < time.monotonic() - start < 10
    assert log.getvalue() == ""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(
        r"127\.0\.0\.1 - - \[.*\] Request timed out: TimeoutError\('timed out'\)", line)
        for line in lines), lines
