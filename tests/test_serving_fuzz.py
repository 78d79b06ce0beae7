"""Predict bodies, fuzzed: any JSON value or bytes parses to a request or is refused with a 4xx."""
import json

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from seqline.serving.errors import RequestError
from seqline.serving.payload import Limits, PredictRequest, parse
from seqline.serving.servables import Signature, TensorInfo

WINDOW = TensorInfo(np.dtype("float32"), (-1, 3, 2), "window:0")
SIGNATURES = {
    "serving_default": Signature({"window": WINDOW}, {}, None),
    "two": Signature({"window": WINDOW, "steps": TensorInfo(np.dtype("int32"), (-1,), "steps:0")},
                     {}, None),
    "any": Signature({"flag": TensorInfo(np.dtype("bool"), None, "flag:0"),
                      "half": TensorInfo(np.dtype("float16"), None, "half:0")}, {}, None),
}
INPUTS = ["window", "steps", "flag", "half"]
KEYS = ["instances", "inputs", "signature_name", *INPUTS]
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

numbers = st.one_of(
    st.integers(-10 ** 40, 10 ** 40), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e39, -1e39, 1e308, 3.4e38, 3.5e38, 65504.0, 65520.0, 2 ** 31, 2 ** 63,
                     2 ** 64, 10 ** 39]))
leaves = st.none() | st.booleans() | numbers | st.text(max_size=5)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=4),
    max_leaves=40)
window = st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=3, max_size=3)
tensors = st.one_of(json_values, window, st.lists(window, min_size=1, max_size=3), numbers,
                    st.lists(numbers, min_size=1, max_size=3), st.booleans(),
                    st.lists(st.booleans(), min_size=1, max_size=3))   # right shapes and types too
named = st.dictionaries(st.sampled_from(INPUTS), tensors, max_size=3)
requests = st.builds(
    lambda key, value, name: {key: value} | ({} if name is None else {"signature_name": name}),
    st.sampled_from(["instances", "inputs"]),
    tensors | named | st.lists(named, min_size=1, max_size=3),
    st.sampled_from([None, None, *SIGNATURES, "nope"]) | json_values)
nested = st.builds(lambda wrap, depth, inner: wrap % (b"[" * depth + inner + b"]" * depth),
                   st.sampled_from([b"%s", b'{"instances": %s}', b'{"inputs": {"window": %s}}']),
                   st.integers(0, 3000), st.sampled_from([b"", b"1", b"null"]))
limits = st.builds(Limits, max_batch=st.integers(1, 4), allow_nan=st.booleans())


def check(body: bytes, limits: Limits) -> None:
    """``body`` parses to a request that fits its signature, or is refused with a 4xx."""
    try:
        request = parse(body, SIGNATURES, limits)
    except RequestError as exc:
        assert 400 <= exc.status < 500 and str(exc)
        return
    assert isinstance(request, PredictRequest) and 1 <= request.batch <= limits.max_batch
    for key, array in request.inputs.items():
        assert array.dtype == SIGNATURES[request.signature].inputs[key].dtype
        if array.dtype.kind == "f":
            assert not np.isinf(array).any() and (limits.allow_nan or not np.isnan(array).any())


@FUZZ
@given(value=json_values, limits=limits)
def test_any_json_value_is_a_request_or_a_client_error(value, limits):
    check(json.dumps(value).encode(), limits)


@FUZZ
@given(value=requests, limits=limits)
def test_any_request_shaped_value_is_a_request_or_a_client_error(value, limits):
    check(json.dumps(value).encode(), limits)


@FUZZ
@given(body=st.binary(max_size=200) | st.text(max_size=50).map(str.encode) | nested,
       limits=limits)
def test_any_bytes_are_a_request_or_a_client_error(body, limits):
    check(body, limits)
