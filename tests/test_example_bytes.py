"""The NumPy Example serializer writes the bytes protobuf writes, one example at a time."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqline.components.example_bytes import key_order, serialize_examples
from seqline.components.example_proto import Example

NAMES = ["y", "y_raw", "x", "window", "meta/series_id", "reference/auto_ets", "a" * 130, "yy"]


def protobuf_bytes(floats: dict, texts: dict, i: int) -> bytes:
    ex = Example()
    f = ex.features.feature
    for name, values in floats.items():
        f[name].float_list.value.extend(np.asarray(values[i]).ravel().tolist())
    for name, values in texts.items():
        f[name].bytes_list.value.append(values[i])
    return ex.SerializeToString(deterministic=True)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_layout_serializes_to_protobufs_bytes(data):
    n = data.draw(st.integers(1, 6))
    names = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    cut = data.draw(st.integers(0, len(names)))
    floats = {}
    for name in names[:cut]:
        k = data.draw(st.integers(1, 40))          # 40 floats: a two-byte length
        cells = (st.floats(width=32) | st.floats(-1e30, 1e30)          # float64s round to float32
                 | st.sampled_from([np.nan, -np.nan, -0.0, np.inf, -np.inf]))
        floats[name] = np.array(data.draw(st.lists(cells, min_size=n * k, max_size=n * k)),
                                np.float64).reshape(n, k)
    texts = {name: data.draw(st.lists(st.binary(max_size=140), min_size=n, max_size=n))
             for name in names[cut:]}
    got = serialize_examples(floats, texts)
    assert got == [protobuf_bytes(floats, texts, i) for i in range(n)]


def test_keys_come_in_protobufs_order_and_empty_float_lists_are_refused():
    assert sorted(key_order(tuple(NAMES))) == sorted(NAMES)
    with pytest.raises(ValueError, match=r"\[N, k >= 1\]"):
        serialize_examples({"x": np.zeros((3, 0))})
