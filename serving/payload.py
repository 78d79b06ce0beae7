"""Predict request bodies in TensorFlow Serving's JSON formats, validated against a signature.

Row format: ``{"instances": [instance, ...]}`` where an instance is the input value itself (one
input) or ``{"input name": value, ...}``; the answer is ``{"predictions": [...]}``, one entry per
instance. Columnar format: ``{"inputs": value}`` or ``{"inputs": {"name": value, ...}}``; the
answer is ``{"outputs": value}`` or ``{"outputs": {"name": value, ...}}``. ``signature_name``
picks a signature (default ``serving_default``). Every problem is a 400 naming the input.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from seqline.serving.errors import RequestError

DEFAULT_SIGNATURE = "serving_default"
VALUE_KINDS = {"b": "true/false values", "i": "numbers", "u": "numbers", "f": "numbers",
               "U": "strings", "O": "nulls or mixed types"}    # by NumPy dtype kind
MAX_DIMS = 32                     # NumPy's limit on array dimensions before NumPy 2 (64 since)


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
    request = _decode(body)
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


def _decode(body: bytes):
    """The body's JSON value, or a 400 saying why there is none."""
    try:
        return json.loads(body)
    except RecursionError:
        raise RequestError(400, "request body: JSON nested too deeply") from None
    except ValueError as exc:    # UnicodeDecodeError included
        raise RequestError(400, f"body is not valid JSON: {exc}") from None


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
    raw = _raw_array(name, value, info)
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
        _check_integers(name, raw, info.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        array = raw.astype(info.dtype, copy=False)
    if kind == "f":
        _check_finite(name, raw, array, limits)
    return array


def _raw_array(name: str, value, info) -> np.ndarray:
    """NumPy's reading of the JSON value, with integers beyond int64 read as floats."""
    try:
        raw = np.asarray(value)
    except ValueError:
        depth = _depth(value)
        if depth > (MAX_DIMS if info.shape is None else len(info.shape)):
            raise RequestError(400, f"input {name!r} is nested {depth} lists deep; the model "
                                    f"expects {_shape_text(info.shape)}") from None
        raise RequestError(400, f"input {name!r} is ragged: nested lists of different lengths "
                                f"(expected shape {_shape_text(info.shape)})") from None
    return _big_ints_as_floats(raw) if raw.dtype.kind == "O" else raw


def _depth(value) -> int:
    """How many lists deep the first element of ``value`` lies."""
    depth = 0
    while isinstance(value, list):
        value, depth = (value[0] if value else None), depth + 1
    return depth


def _big_ints_as_floats(raw: np.ndarray) -> np.ndarray:
    """An object array of JSON numbers (NumPy's reading of ints beyond int64) as float64."""
    leaves = raw.ravel().tolist()
    if not all(type(leaf) in (int, float) for leaf in leaves):
        return raw                # nulls, strings, objects or bools among numbers: refused later
    return np.array([_float(leaf) for leaf in leaves], np.float64).reshape(raw.shape)


def _float(number) -> float:
    """``number`` as a float; an integer beyond float64 becomes an infinity."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def _check_integers(name: str, raw: np.ndarray, dtype: np.dtype) -> None:
    """Refuse fractions and values beyond the integer dtype's range."""
    if raw.dtype.kind == "f" and not np.array_equal(raw, np.round(raw)):
        raise RequestError(400, f"input {name!r} must hold integers ({dtype})")
    bounds = np.iinfo(dtype)
    outside = (raw < bounds.min) | (raw > bounds.max)
    if outside.any():
        raise RequestError(400, f"input {name!r} has values outside the {dtype} range at index "
                                f"{_first(outside)}")


def _check_finite(name: str, raw: np.ndarray, array: np.ndarray, limits: Limits) -> None:
    """Refuse NaN (unless allowed), infinities, and numbers beyond the input's float dtype."""
    bad = np.isinf(array) if limits.allow_nan else ~np.isfinite(array)
    if not bad.any():
        return
    at = _first(bad)
    value = float(raw[tuple(at)])
    if math.isnan(value):
        raise RequestError(400, f"input {name!r} is NaN at index {at}; send numbers, or start the "
                                "server with --allow-nan if the model fills missing values")
    if math.isinf(value):
        raise RequestError(400, f"input {name!r} is infinite (or beyond float64) at index {at}")
    dtype = array.dtype
    raise RequestError(400, f"input {name!r} is out of {dtype} range at index {at}: {value:g} "
                            f"({dtype} holds magnitudes up to {np.finfo(dtype).max:.4g})")


def _first(mask: np.ndarray) -> list:
    """The index of the first true element, as a list of ints."""
    return [int(i) for i in np.argwhere(mask)[0]]


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
