"""What a request asks for and what it is answered, whichever HTTP front end read it.

A front end parses the request line and headers, checks the body's framing with ``body_length``,
reads the body, then calls ``route``: an answer ``(status, body, content type)``, or a ``Predict``
whose model call the front end runs (``seqline.serving.batching``) and answers with ``predicted``.
Failures become answers through ``failure``; ``finish`` writes the access log and the metrics.
"""
from __future__ import annotations

import json
import re
import sys
import time
import traceback
from dataclasses import dataclass
from urllib.parse import unquote

from seqline.serving import metrics, payload
from seqline.serving.errors import RequestError

MODEL_ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)"
                         r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                         r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?")
SEQLINE_METADATA_KEYS = ("task", "inputs", "outputs", "metrics")
JSON = "application/json"


class BodyRefused(RequestError):
    """A body that cannot be read past: the connection is closed after the answer."""


@dataclass(frozen=True)
class Predict:
    """A validated predict request waiting for its model call."""

    model: str
    version: int
    signature: object
    request: payload.PredictRequest


def record(client: str, method: str | None, path: str | None) -> dict:
    """The start of a request's access-log line."""
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "client": client, "method": method, "path": path}


def body_length(headers, method: str, limits: payload.Limits, record: dict) -> int | None:
    """The body's size from ``Content-Length`` (``None``: no body), within ``--max-body-bytes``."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        raise BodyRefused(411, "chunked bodies are not accepted; send Content-Length")
    length = headers.get("Content-Length")
    if length is None:
        if method == "POST":
            raise RequestError(411, "a POST needs a Content-Length header")
        return None
    if not length.strip().isdigit():
        raise BodyRefused(400, f"bad Content-Length {length!r}")
    size, limit = int(length), limits.max_body_bytes
    record["bytes_in"] = size
    if size > limit:    # the unread body cannot be skipped on this connection
        raise BodyRefused(413, f"body of {size} bytes exceeds the server's limit of {limit} "
                               "bytes (--max-body-bytes)")
    return size


def body_stalled(timeout: float, size: int) -> BodyRefused:
    return BodyRefused(408, f"request timeout: the body stopped arriving (nothing for "
                            f"{timeout:g}s; Content-Length is {size})")


def body_short(got: int, size: int) -> BodyRefused:
    return BodyRefused(400, f"body ended after {got} of {size} bytes")


def route(server, method: str, path: str, headers, body: bytes, record: dict):
    """``(status, body, content type)`` or a ``Predict``; ``server`` has registry, limits, metrics."""
    if path == "/healthz":
        _require(method, "GET", path)
        models = {name: sorted(m.versions) for name, m in server.registry.snapshot.items()}
        ready = any(models.values())
        return (200 if ready else 503), _json({"status": "ok" if ready else "no model loaded",
                                               "models": models}), JSON
    if path == metrics.PATH:
        _require(method, "GET", path)
        return (200, *server.metrics.exposition(headers.get("Accept")))
    match = MODEL_ROUTE.fullmatch(path)
    if match is None:
        raise RequestError(404, f"no route {method} {path}; use /v1/models/<name>[:predict], "
                                f"/healthz or {metrics.PATH}")
    name, label = unquote(match["name"]), match["label"] and unquote(match["label"])
    version = _version(match["version"])
    record["model"] = name
    registry = server.registry
    if match["verb"] is not None:
        if match["verb"] != "predict":
            raise RequestError(400, f"':{match['verb']}' is not supported; use ':predict'")
        _require(method, "POST", path)
        version, servable = registry.resolve(name, version, label)
        record["version"] = version
        request = payload.parse(body, servable.signatures, server.limits)
        record["batch"] = request.batch
        return Predict(name, version, servable.signatures[request.signature], request)
    _require(method, "GET", path)
    if match["metadata"]:
        version, servable = registry.resolve(name, version, label)
        return 200, _json(_metadata(name, version, servable)), JSON
    model = registry.get(name)
    if label is not None or version is not None:
        version = registry.resolve(name, version, label)[0] if label else version
        status = model.status(only=version)
        if not status["model_version_status"]:
            raise RequestError(404, f"version {version} of model {name!r} is not served")
        return 200, _json(status), JSON
    return 200, _json(model.status()), JSON


def predicted(predict: Predict, outputs: dict) -> tuple:
    """The answer to a predict request once its model call returned ``outputs``."""
    return 200, payload.response(predict.request, outputs), JSON


def failure(exc: Exception, record: dict) -> tuple:
    """``(status, body)`` for a request that failed; a bug or runtime failure is a 500."""
    if isinstance(exc, RequestError):
        record["error"] = str(exc)
        return exc.status, error(str(exc))
    record["error"] = f"internal error: {type(exc).__name__}: {exc}"
    traceback.print_exception(exc, file=sys.stderr)
    return 500, error(record["error"])


def finish(server, record: dict, status: int, body: bytes, seconds: float) -> None:
    """Access log and metrics for a request answered after ``seconds``."""
    record.update(status=status, bytes_out=len(body), ms=round(seconds * 1000, 3))
    server.access_log.write(record)
    if "model" in record:
        server.metrics.count(record["model"], record.get("version"), status, seconds)


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


def error(message: str) -> bytes:
    """An error answer's body: ``{"error": message}``."""
    return _json({"error": message})
