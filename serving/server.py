"""The HTTP server: TensorFlow Serving's REST API, on an event loop or on threads.

``ServingServer`` builds the front end asked for: ``loop`` (``seqline.serving.event_loop``, one
thread for every connection, the default) or ``threads`` (``ThreadedServer`` below, the standard
library's threading server, one thread per connection). Both answer alike (``routes``).

Routes (TF Serving's, plus a health check):
``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict``,
``GET /v1/models/<name>[/versions/<v>|/labels/<l>]`` (version status),
``GET /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata`` (signatures),
``GET /healthz`` (200 once a model is loaded, 503 before),
``GET /monitoring/prometheus/metrics`` (Prometheus text format, ``seqline.serving.metrics``).
Every other answer is JSON; errors are ``{"error": "..."}`` with a 4xx/5xx status, and no request can
stop the server. One JSON line per request goes to the access log. With batching on, concurrent
predict requests share model calls (``seqline.serving.batching``, ``seqline.serving.loop_calls``).
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from seqline.serving import metrics, payload, routes
from seqline.serving.batching import BatchOptions, ModelCalls
from seqline.serving.event_loop import EventLoopServer
from seqline.serving.registry import ModelRegistry

SERVER_VERSION = "seqline-serve"
FRONT_ENDS = ("loop", "threads")


class AccessLog:
    """Writes one JSON object per request to a stream (``None``: no access log).

    Lines are buffered and flushed every ``flush_seconds`` by a background thread, and by
    ``close``: a flush per request cost about a tenth of the server's CPU per request at 16
    concurrent clients (a system call, and a wait for the interpreter lock after it).
    """

    def __init__(self, stream, flush_seconds: float = 0.2):
        self.stream, self.flush_seconds = stream, flush_seconds
        self._lock = threading.Lock()
        self._dirty = False
        self._closed = threading.Event()
        if stream is not None:
            threading.Thread(target=self._flush_every, daemon=True,
                             name="seqline-access-log").start()

    def write(self, record: dict) -> None:
        if self.stream is None:
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self.stream.write(line)
            self._dirty = True

    def flush(self) -> None:
        with self._lock:
            if self._dirty and not self.stream.closed:
                self.stream.flush()
            self._dirty = False

    def close(self) -> None:
        """Stop the flushing thread and flush what is left (the stream stays open)."""
        self._closed.set()
        if self.stream is not None:
            self.flush()

    def _flush_every(self) -> None:
        while not self._closed.wait(self.flush_seconds):
            self.flush()


class ThreadedServer(ThreadingHTTPServer):
    """The standard library's server: one thread per connection (HTTP/1.1 keep-alive).

    ``request_timeout``: seconds a connection may sit idle or a body may stall before it is
    dropped (idle) or answered 408 (a body that stopped arriving). ``batching``: merge concurrent
    predict requests into shared model calls (``None``: each request calls the model alone).
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple, registry: ModelRegistry, limits: payload.Limits,
                 access_log: AccessLog, request_timeout: float = 60,
                 batching: BatchOptions | None = None):
        self.registry, self.limits, self.access_log = registry, limits, access_log
        self.request_timeout = request_timeout
        self.metrics = metrics.Metrics(registry)
        self.model_calls = ModelCalls(batching, self.metrics.model_call)
        super().__init__(address, Handler)

    def server_close(self) -> None:
        super().server_close()
        self.access_log.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_VERSION
    disable_nagle_algorithm = True    # small JSON answers go out at once
    wbufsize = 64 * 1024              # headers and body leave in one send, flushed per request

    def setup(self):
        self.timeout = self.server.request_timeout   # applied to the socket by the base class
        super().setup()

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        start = time.perf_counter()
        record = routes.record(self.client_address[0], method, self.path)
        content_type = routes.JSON
        try:
            answer = routes.route(self.server, method, self.path.split("?", 1)[0], self.headers,
                                  self._read_body(record), record)
            if isinstance(answer, routes.Predict):
                answer = routes.predicted(answer, self.server.model_calls.predict(
                    answer.model, answer.version, answer.signature, answer.request.inputs))
            status, body, content_type = answer
        except Exception as exc:   # a refusal, or a bug or runtime failure: the server goes on
            if isinstance(exc, routes.BodyRefused):
                self.close_connection = True
            status, body = routes.failure(exc, record)
        self._send(status, body, content_type)
        routes.finish(self.server, record, status, body, time.perf_counter() - start)

    def _read_body(self, record: dict) -> bytes:
        """The request body within ``--max-body-bytes``; oversize bodies are not read."""
        size = routes.body_length(self.headers, self.command, self.server.limits, record)
        if size is None:
            return b""
        try:
            body = self.rfile.read(size)
        except TimeoutError:
            raise routes.body_stalled(self.timeout, size) from None
        if len(body) < size:
            raise routes.body_short(len(body), size)
        return body

    def _send(self, status: int, body: bytes, content_type: str = routes.JSON) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """Malformed requests and unknown methods (answered by the base class) get JSON too."""
        self.close_connection = True
        body = routes.error(message or f"HTTP {code}")
        try:
            self._send(code, body)
        finally:
            record = routes.record(self.client_address[0], getattr(self, "command", None),
                                   getattr(self, "path", None))
            record.update(status=code, error=message)
            self.server.access_log.write(record)

    def log_request(self, code="-", size="-"):
        """The access log is written by ``_handle``; nothing goes to stderr per request."""


def run(server) -> None:
    """Load the models, then serve until Ctrl-C or SIGTERM."""
    import signal

    registry = server.registry
    registry.refresh()
    if not registry.snapshot:
        registry.echo(f"no model under {registry.base} yet (expected <name>/<version>/); waiting")
    registry.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    host, port = server.server_address[:2]
    registry.echo(f"serving {', '.join(sorted(registry.snapshot)) or 'nothing yet'} at "
                  f"http://{host}:{port}/v1/models/<name> (polling every "
                  f"{registry.poll_seconds:g}s; Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        registry.stop()
        server.server_close()


def ServingServer(address: tuple, registry: ModelRegistry, limits: payload.Limits,
                  access_log: AccessLog, request_timeout: float = 60,
                  batching: BatchOptions | None = None, front_end: str = "loop"):
    """The server of ``front_end``: ``loop`` (one thread for all connections, the default) or
    ``threads`` (the standard library's, one thread per connection); both answer alike."""
    if front_end not in FRONT_ENDS:
        raise ValueError(f"--front-end must be one of {', '.join(FRONT_ENDS)}, got {front_end!r}")
    if front_end == "threads":
        return ThreadedServer(address, registry, limits, access_log, request_timeout, batching)
    return EventLoopServer(address, registry, limits, access_log, request_timeout, batching,
                           SERVER_VERSION)
