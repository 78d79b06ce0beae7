"""Predict bodies: TF Serving's row and columnar formats, validation messages, answer formats."""
import json

import numpy as np
import pytest

from seqline.serving.errors import RequestError
from seqline.serving.payload import Limits, parse, response
from seqline.serving.servables import Signature, TensorInfo

WINDOW = TensorInfo(np.dtype("float32"), (-1, 3, 2), "serving_default_window:0")
ONE_INPUT = {"serving_default": Signature({"window": WINDOW}, {}, None)}
TWO_INPUTS = {"serving_default": Signature(
    {"window": WINDOW, "steps": TensorInfo(np.dtype("int32"), (-1,), "steps:0")}, {}, None),
    "other": Signature({"flag": TensorInfo(np.dtype("bool"), (-1,), "flag:0")}, {}, None)}
W = [[1, 2], [3, 4], [5, 6.5]]


def body(value) -> bytes:
    return json.dumps(value).encode()


def refused(value, signatures=ONE_INPUT, limits=Limits(), status=400) -> str:
    with pytest.raises(RequestError) as info:
        parse(value if isinstance(value, bytes) else body(value), signatures, limits)
    assert info.value.status == status
    return str(info.value)


def test_row_and_columnar_forms_give_the_same_batch():
    expected = np.asarray([W, W], np.float32)
    for request in ({"instances": [W, W]}, {"instances": [{"window": W}, {"window": W}]},
                    {"inputs": [W, W]}, {"inputs": {"window": [W, W]}},
                    {"inputs": [W, W], "signature_name": "serving_default"}):
        parsed = parse(body(request), ONE_INPUT, Limits())
        assert parsed.batch == 2 and parsed.signature == "serving_default"
        assert parsed.inputs["window"].dtype == np.float32
        np.testing.assert_array_equal(parsed.inputs["window"], expected)
    assert parse(body({"instances": [W]}), ONE_INPUT, Limits()).row_format
    assert not parse(body({"inputs": [W]}), ONE_INPUT, Limits()).row_format


def test_several_inputs_and_a_named_signature():
    parsed = parse(body({"instances": [{"window": W, "steps": 3}, {"window": W, "steps": 4}]}),
                   TWO_INPUTS, Limits())
    assert parsed.inputs["steps"].tolist() == [3, 4] and parsed.inputs["steps"].dtype == np.int32
    parsed = parse(body({"signature_name": "other", "inputs": {"flag": [True, False]}}),
                   TWO_INPUTS, Limits())
    assert parsed.signature == "other" and parsed.inputs["flag"].tolist() == [True, False]
    assert "missing input(s) 'steps'" in refused({"instances": [{"window": W}]}, TWO_INPUTS)
    assert "unknown input(s) 'x'" in refused({"inputs": {"window": [W], "steps": [1], "x": 1}},
                                             TWO_INPUTS)
    assert "must be an object naming the inputs" in refused({"instances": [W]}, TWO_INPUTS)
    assert "disagree on the batch size" in refused({"inputs": {"window": [W], "steps": [1, 2]}},
                                                   TWO_INPUTS)
    assert "signature 'nope' not found; this model has: other, serving_default" in refused(
        {"signature_name": "nope", "inputs": [W]}, TWO_INPUTS)


def test_malformed_bodies_name_the_problem():
    assert "not valid JSON" in refused(b"{not json")
    assert "not valid JSON" in refused(b"\xff\xfe")
    assert "JSON object" in refused([W])
    assert "exactly one of" in refused({"instances": [W], "inputs": [W]})
    assert "exactly one of" in refused({})
    assert "unknown key(s) 'instance'" in refused({"instance": [W]})
    assert "non-empty list" in refused({"instances": []})
    assert "non-empty list" in refused({"instances": W[0][0]})


def test_values_are_checked_for_type_shape_and_finiteness():
    assert "has shape [1, 2, 2]; the model expects [batch, 3, 2]" in refused({"instances": [W[:2]]})
    assert "has shape [3, 2]" in refused({"inputs": W})
    assert "ragged" in refused({"instances": [[[1, 2], [3], [5, 6]]]})
    assert "got strings" in refused({"instances": [[["1", "2"], [3, 4], [5, 6]]]})
    assert "got nulls or mixed types" in refused({"instances": [[[None, 2], [3, 4], [5, 6]]]})
    assert "must hold numbers" in refused({"instances": [[[True, False]] * 3]})
    nan = b'{"instances": [[[1, 2], [3, NaN], [5, 6]]]}'
    assert "input 'window' is NaN at index [0, 1, 1]" in refused(nan)
    assert np.isnan(parse(nan, ONE_INPUT, Limits(allow_nan=True)).inputs["window"][0, 1, 1])
    inf = b'{"instances": [[[1, 2], [3, 4], [-Infinity, 6]]]}'
    assert "input 'window' is infinite (or beyond float64) at index [0, 2, 0]" in refused(
        inf, limits=Limits(allow_nan=True))


@pytest.mark.parametrize("number", [1e39, -1e39, 1e308, 10 ** 39])
def test_numbers_beyond_float32_name_the_input_and_the_index(number):
    message = refused({"instances": [W, [[1, 2], [3, 4], [5, number]]]})
    assert message.startswith("input 'window' is out of float32 range at index [1, 2, 1]: ")
    assert "float32 holds magnitudes up to 3.403e+38" in message


def test_integers_beyond_int64_are_read_as_numbers():
    parsed = parse(body({"instances": [[[1, 2], [3, 4], [5, 10 ** 20]]]}), ONE_INPUT, Limits())
    assert parsed.inputs["window"][0, 2, 1] == np.float32(1e20)
    assert "infinite (or beyond float64) at index [0, 0, 0]" in refused(
        {"instances": [[[-10 ** 400, 2], [3, 4], [5, 6]]]})
    assert "got nulls or mixed types" in refused({"instances": [[[None, 2], [3, 4], [5, 10 ** 39]]]})
    assert "'steps' has values outside the int32 range at index [1]" in refused(
        {"inputs": {"window": [W, W], "steps": [1, 10 ** 39]}}, TWO_INPUTS)


def test_deeply_nested_json_is_refused():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert refused(deep) == "request body: JSON nested too deeply"
    assert refused(b'{"instances": ' + deep + b"}") == "request body: JSON nested too deeply"
    for depth in (70, 900):      # within json's recursion limit, beyond NumPy's dimensions
        nested = b"[" * depth + b"1" + b"]" * depth
        assert refused(b'{"instances": ' + nested + b"}") == (
            f"input 'window' is nested {depth} lists deep; the model expects [batch, 3, 2]")


def test_integer_inputs_take_whole_numbers_in_range():
    ok = parse(body({"inputs": {"window": [W], "steps": [2.0]}}), TWO_INPUTS, Limits())
    assert ok.inputs["steps"].tolist() == [2]
    assert "must hold integers" in refused({"inputs": {"window": [W], "steps": [2.5]}}, TWO_INPUTS)
    assert "outside the int32 range" in refused({"inputs": {"window": [W], "steps": [2 ** 40]}},
                                                TWO_INPUTS)


def test_batch_limit():
    assert parse(body({"instances": [W] * 4}), ONE_INPUT, Limits(max_batch=4)).batch == 4
    message = refused({"instances": [W] * 5}, limits=Limits(max_batch=4))
    assert message == "batch of 5 examples exceeds the server's limit of 4 (--max-batch-size)"
    with pytest.raises(ValueError, match="--max-batch-size must be >= 1"):
        Limits(max_batch=0)
    with pytest.raises(ValueError, match="--max-body-bytes must be >= 1"):
        Limits(max_body_bytes=0)


def test_answers_follow_the_request_format():
    rows = parse(body({"instances": [W, W]}), ONE_INPUT, Limits())
    columns = parse(body({"inputs": [W, W]}), ONE_INPUT, Limits())
    one = {"forecast": np.asarray([[1.5], [2.5]], np.float32)}
    two = {**one, "scale": np.asarray([3.0, 4.0], np.float32)}
    assert json.loads(response(rows, one)) == {"predictions": [[1.5], [2.5]]}
    assert json.loads(response(rows, two)) == {"predictions": [{"forecast": [1.5], "scale": 3.0},
                                                               {"forecast": [2.5], "scale": 4.0}]}
    assert json.loads(response(columns, one)) == {"outputs": [[1.5], [2.5]]}
    assert json.loads(response(columns, two)) == {"outputs": {"forecast": [[1.5], [2.5]],
                                                              "scale": [3.0, 4.0]}}
