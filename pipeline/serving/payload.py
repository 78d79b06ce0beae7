"""Predict request bodies in TensorFlow Serving's JSON formats, validated against a signature.

Row format: ``{"instances": [instance, ...]}`` where an instance is the input value itself (one
input) or ``{"input name": value, ...}``; the answer is ``{"predictions": [...]}``, one entry per
instance. Columnar format: ``{"inputs": value}`` or ``{"inputs": {"name": value, ...}}``; the
answer is ``{"outputs": value}`` or ``{"outputs": {"name": value, ...}}``. ``signature_name``
picks a signature (default ``serving_default``). Every problem is a 400 naming the input.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pipeline.serving.errors import RequestError

DEFAULT_SIGNATURE = "serving_default"
VALUE_KINDS = {"b": "true/false values", "i": "numbers", "u": "numbers", "f": "numbers",
               "U": "strings", "O": "nulls or mixed types"}    # by NumPy dtype kind


@dataclass(frozen=True)
class Limits:
    """Per-request limits: body size in bytes, batch size, and whether NaN inputs are allowed."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 1024
    allow_nan: bool = False

    def __post_init__(self):
        if self.max_body_bytes < 1:
            raise ValueError(f"--max-body-bytes must be >= 1, got {self.max_body_bytes}")
        if self.max_batch < 1:
            raise ValueError(f"--max-batch-size must be >= 1, got {self.max_batch}")


@dataclass(frozen=True)
class PredictRequest:
    signature: str
    inputs: dict      # name -> np.ndarray of the signature's dtype and shape
    row_format: bool
    batch: int


def parse(body: bytes, signatures: dict, limits: Limits) -> PredictRequest:
    """Decode and validate a predict body for a servable with ``signatures``."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError(400, 'body must be a JSON object with "instances" or "inputs"')
    unknown = set(request) - {"instances", "inputs", "signature_name"}
    if unknown:
        raise RequestError(400, f"unknown key(s) {', '.join(map(repr, sorted(unknown)))}; "
                                'expected "instances" or "inputs" and optionally "signature_name"')
    if ("instances" in request) == ("inputs" in request):
        raise RequestError(400, 'body must have exactly one of "instances" (row format) '
                                'or "inputs" (columnar format)')
    name = request.get("signature_name") or DEFAULT_SIGNATURE
    if not isinstance(name, str) or name not in signatures:
        raise RequestError(400, f"signature {name!r} not found; this model has: "
                                + ", ".join(sorted(signatures)))
    spec = signatures[name].inputs
    if "instances" in request:
        columns = _columns_from_rows(request["instances"], spec)
    else:
        columns = _named(request["inputs"], spec, '"inputs"')
    arrays = {key: _to_array(key, value, spec[key], limits) for key, value in columns.items()}
    batch = _batch_size(arrays, limits)
    return PredictRequest(name, arrays, "instances" in request, batch)


def _columns_from_rows(instances, spec: dict) -> dict:
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, '"instances" must be a non-empty list, one entry per example')
    if len(spec) == 1:
        (key,) = spec
        if all(isinstance(row, dict) for row in instances):
            rows = [_named(row, spec, f'"instances"[{i}]') for i, row in enumerate(instances)]
            return {key: [row[key] for row in rows]}
        return {key: instances}
    rows = [_named(row, spec, f'"instances"[{i}]') for i, row in enumerate(instances)]
    return {key: [row[key] for row in rows] for key in spec}


def _named(value, spec: dict, where: str) -> dict:
    """``{input name: value}`` from an object naming every input (or a bare value, one input)."""
    if not isinstance(value, dict):
        if len(spec) == 1:
            return {next(iter(spec)): value}
        raise RequestError(400, f"{where} must be an object naming the inputs "
                                + ", ".join(map(repr, spec)))
    missing, extra = set(spec) - set(value), set(value) - set(spec)
    if missing or extra:
        parts = ([f"missing input(s) {', '.join(map(repr, sorted(missing)))}"] if missing else []) \
            + ([f"unknown input(s) {', '.join(map(repr, sorted(extra)))}"] if extra else [])
        raise RequestError(400, f"{where}: {'; '.join(parts)}; the model's inputs are "
                                + ", ".join(map(repr, spec)))
    return value


def _to_array(name: str, value, info, limits: Limits) -> np.ndarray:
    """The value as an array of the input's dtype and shape, or a 400 naming what is wrong."""
    try:
        raw = np.asarray(value)
    except ValueError:
        raise RequestError(400, f"input {name!r} is ragged: nested lists of different lengths "
                                f"(expected shape {_shape_text(info.shape)})") from None
    kind = info.dtype.kind
    if raw.dtype.kind not in ("b" if kind == "b" else "iuf"):
        got = VALUE_KINDS.get(raw.dtype.kind, f"{raw.dtype} values")
        want = VALUE_KINDS["b" if kind == "b" else "f"]
        raise RequestError(400, f"input {name!r} must hold {want} ({info.dtype}), got {got}")
    if info.shape is not None:
        expected = tuple(info.shape)
        if raw.ndim != len(expected) or any(e >= 0 and e != g for e, g in zip(expected, raw.shape)):
            raise RequestError(400, f"input {name!r} has shape {list(raw.shape)}; the model expects "
                                    f"{_shape_text(expected)}")
    if kind in "iu":
        if raw.dtype.kind == "f" and not np.array_equal(raw, np.round(raw)):
            raise RequestError(400, f"input {name!r} must hold integers ({info.dtype})")
        limits_of = np.iinfo(info.dtype)
        if raw.size and (raw.min() < limits_of.min or raw.max() > limits_of.max):
            raise RequestError(400, f"input {name!r} has values outside the {info.dtype} range")
    with np.errstate(over="ignore", invalid="ignore"):
        array = raw.astype(info.dtype, copy=False)
    if kind == "f":
        bad = np.isinf(array) if limits.allow_nan else ~np.isfinite(array)
        if bad.any():
            at = [int(i) for i in np.argwhere(bad)[0]]
            if np.isnan(array[tuple(at)]):
                raise RequestError(400, f"input {name!r} is NaN at index {at}; send numbers, or "
                                        "start the server with --allow-nan if the model fills "
                                        "missing values")
            raise RequestError(400, f"input {name!r} is infinite or beyond the {info.dtype} "
                                    f"range at index {at}")
    return array


def _batch_size(arrays: dict, limits: Limits) -> int:
    sizes = {len(a) if a.ndim else 1 for a in arrays.values()}
    if len(sizes) != 1:
        raise RequestError(400, "inputs disagree on the batch size (first dimension): "
                                + ", ".join(f"{k}={len(a) if a.ndim else 1}" for k, a in arrays.items()))
    batch = sizes.pop()
    if batch > limits.max_batch:
        raise RequestError(400, f"batch of {batch} examples exceeds the server's limit of "
                                f"{limits.max_batch} (--max-batch-size)")
    if batch == 0:
        raise RequestError(400, "empty batch: send at least one example")
    return batch


def _shape_text(shape) -> str:
    if shape is None:
        return "any shape"
    return "[" + ", ".join("batch" if i == 0 and d < 0 else ("any" if d < 0 else str(d))
                           for i, d in enumerate(shape)) + "]"


def response(request: PredictRequest, outputs: dict) -> bytes:
    """The JSON answer in the request's format."""
    if request.row_format:
        if len(outputs) == 1:
            body = {"predictions": next(iter(outputs.values())).tolist()}
        else:
            lists = {k: v.tolist() for k, v in outputs.items()}
            body = {"predictions": [{k: v[i] for k, v in lists.items()}
                                    for i in range(request.batch)]}
    elif len(outputs) == 1:
        body = {"outputs": next(iter(outputs.values())).tolist()}
    else:
        body = {"outputs": {k: v.tolist() for k, v in outputs.items()}}
    return json.dumps(body).encode()
