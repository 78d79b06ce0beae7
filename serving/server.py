"""The HTTP front end: TensorFlow Serving's REST API on the standard library's threading server.

Routes (TF Serving's, plus a health check):
``POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict``,
``GET /v1/models/<name>[/versions/<v>|/labels/<l>]`` (version status),
``GET /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata`` (signatures),
``GET /healthz`` (200 once a model is loaded, 503 before),
``GET /monitoring/prometheus/metrics`` (Prometheus text format, ``seqline.serving.metrics``).
Every other answer is JSON; errors are ``{"error": "..."}`` with a 4xx/5xx status, and no request can
stop the server. One JSON line per request goes to the access log. With batching on, concurrent
predict requests share model calls (``seqline.serving.batching``).
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from seqline.serving import metrics, payload
from seqline.serving.batching import BatchOptions, ModelCalls
from seqline.serving.errors import RequestError
from seqline.serving.registry import ModelRegistry

MODEL_ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)"
                         r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                         r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?")
SEQLINE_METADATA_KEYS = ("task", "inputs", "outputs", "metrics")


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


class ServingServer(ThreadingHTTPServer):
    """One thread per connection (HTTP/1.1 keep-alive); shares the registry and limits.

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
    server_version = "seqline-serve"
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
        record = self._record(method)
        self.content_type = "application/json"
        try:
            status, body = self._route(method, record)
        except RequestError as exc:
            status, body = exc.status, _error(str(exc))
            record["error"] = str(exc)
        except Exception as exc:   # a bug or a runtime failure answers 500; the server goes on
            record["error"] = f"internal error: {type(exc).__name__}: {exc}"
            status, body = 500, _error(record["error"])
            traceback.print_exc(file=sys.stderr)
        self._send(status, body, self.content_type)
        seconds = time.perf_counter() - start
        record.update(status=status, bytes_out=len(body), ms=round(seconds * 1000, 3))
        self.server.access_log.write(record)
        if "model" in record:
            self.server.metrics.count(record["model"], record.get("version"), status, seconds)

    def _route(self, method: str, record: dict) -> tuple:
        path = self.path.split("?", 1)[0]
        body = self._read_body(record)
        if path == "/healthz":
            _require(method, "GET", path)
            models = {name: sorted(m.versions) for name, m in self.server.registry.snapshot.items()}
            ready = any(models.values())
            return (200 if ready else 503), _json({"status": "ok" if ready else "no model loaded",
                                                   "models": models})
        if path == metrics.PATH:
            _require(method, "GET", path)
            body, self.content_type = self.server.metrics.exposition(self.headers.get("Accept"))
            return 200, body
        match = MODEL_ROUTE.fullmatch(path)
        if match is None:
            raise RequestError(404, f"no route {method} {path}; use /v1/models/<name>[:predict], "
                                    f"/healthz or {metrics.PATH}")
        name, label = unquote(match["name"]), match["label"] and unquote(match["label"])
        version = _version(match["version"])
        record["model"] = name
        registry = self.server.registry
        if match["verb"] is not None:
            if match["verb"] != "predict":
                raise RequestError(400, f"':{match['verb']}' is not supported; use ':predict'")
            _require(method, "POST", path)
            version, servable = registry.resolve(name, version, label)
            record["version"] = version
            request = payload.parse(body, servable.signatures, self.server.limits)
            record["batch"] = request.batch
            outputs = self.server.model_calls.predict(name, version,
                                                      servable.signatures[request.signature],
                                                      request.inputs)
            return 200, payload.response(request, outputs)
        _require(method, "GET", path)
        if match["metadata"]:
            version, servable = registry.resolve(name, version, label)
            return 200, _json(_metadata(name, version, servable))
        model = registry.get(name)
        if label is not None or version is not None:
            version = registry.resolve(name, version, label)[0] if label else version
            status = model.status(only=version)
            if not status["model_version_status"]:
                raise RequestError(404, f"version {version} of model {name!r} is not served")
            return 200, _json(status)
        return 200, _json(model.status())

    def _read_body(self, record: dict) -> bytes:
        """The request body within ``--max-body-bytes``; oversize bodies are not read."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise RequestError(411, "chunked bodies are not accepted; send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            if self.command == "POST":
                raise RequestError(411, "a POST needs a Content-Length header")
            return b""
        if not length.strip().isdigit():
            self.close_connection = True
            raise RequestError(400, f"bad Content-Length {length!r}")
        size, limit = int(length), self.server.limits.max_body_bytes
        record["bytes_in"] = size
        if size > limit:
            self.close_connection = True   # the unread body cannot be skipped on this connection
            raise RequestError(413, f"body of {size} bytes exceeds the server's limit of {limit} "
                                    "bytes (--max-body-bytes)")
        try:
            body = self.rfile.read(size)
        except TimeoutError:
            self.close_connection = True
            raise RequestError(408, f"request timeout: the body stopped arriving (nothing for "
                                    f"{self.timeout:g}s; Content-Length is {size})") from None
        if len(body) < size:
            self.close_connection = True
            raise RequestError(400, f"body ended after {len(body)} of {size} bytes")
        return body

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
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
        body = _error(message or f"HTTP {code}")
        try:
            self._send(code, body)
        finally:
            record = self._record(getattr(self, "command", None))
            record.update(status=code, error=message)
            self.server.access_log.write(record)

    def _record(self, method: str | None) -> dict:
        """The start of a request's access-log line."""
        return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "client": self.client_address[0], "method": method,
                "path": getattr(self, "path", None)}

    def log_request(self, code="-", size="-"):
        """The access log is written by ``_handle``; nothing goes to stderr per request."""


def _require(method: str, expected: str, path: str) -> None:
    if method != expected:
        raise RequestError(405, f"{method} is not allowed on {path}; use {expected}")


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    text = unquote(text)
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise RequestError(400, f"version must be a non-negative integer, got {text!r}")
    return int(text)


def _metadata(name: str, version: int, servable) -> dict:
    """TensorFlow Serving's ``GetModelMetadata`` JSON, plus the exported seqline description."""
    meta = {"signature_def": {"signature_def": {k: s.describe()
                                                for k, s in servable.signatures.items()}}}
    seqline = {k: servable.metadata[k] for k in SEQLINE_METADATA_KEYS if k in servable.metadata}
    if seqline:
        meta["seqline"] = seqline
    return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": meta}


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _error(message: str) -> bytes:
    return _json({"error": message})


def run(server: ServingServer) -> None:
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
