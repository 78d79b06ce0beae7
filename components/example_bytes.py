"""Many ``tf.train.Example`` messages of one layout serialized at once with NumPy: the bytes
``Example.SerializeToString(deterministic=True)`` gives for each, without building a message per
example (filling float lists one example at a time was most of the forecast Transform's time).

Features come in the order protobuf's deterministic serialization gives its map keys (read from
protobuf itself: upb puts ``"y_raw"`` before ``"y"``, a plain sort would not). Each example
holds every feature: a float list of the same length in all examples, or a bytes
list of one value. Examples whose bytes values have the same lengths share one layout: their
bytes are one NumPy row each, headers and lengths computed once.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from seqline.components.example_proto import Example

_LEN = 2   # protobuf wire type of a length-delimited field


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value, shift, pos = value | (byte & 0x7F) << shift, shift + 7, pos + 1
        if byte < 0x80:
            return value, pos


@lru_cache(maxsize=64)
def key_order(names: tuple) -> list:
    """``names`` in the order ``SerializeToString(deterministic=True)`` writes them."""
    ex = Example()
    for name in names:
        ex.features.feature[name].bytes_list.value.append(b"")
    data = ex.SerializeToString(deterministic=True)
    _, pos = _read_varint(data, 1)                    # the Features field's length
    order = []
    while pos < len(data):
        size, body = _read_varint(data, pos + 1)      # one map entry
        key_size, key = _read_varint(data, body + 1)
        order.append(data[key:key + key_size].decode())
        pos = body + size
    return order


def _field(number: int, size: int) -> bytes:
    """The tag and length of a length-delimited field of ``size`` bytes."""
    return bytes([number << 3 | _LEN]) + _varint(size)


def _feature_head(name: str, size: int, kind: int) -> bytes:
    """The bytes of one feature's map entry before its list's payload of ``size`` bytes (packed
    floats, or the one bytes value); ``kind``: 1 bytes_list, 2 float_list. Both lists hold
    the payload as field 1."""
    key = name.encode()
    list_size = len(_field(1, size)) + size
    feature_size = len(_field(kind, list_size)) + list_size
    entry_size = len(_field(1, len(key))) + len(key) + len(_field(2, feature_size)) + feature_size
    return (_field(1, entry_size) + _field(1, len(key)) + key + _field(2, feature_size)
            + _field(kind, list_size) + _field(1, size))


def _layout_rows(floats: dict, texts: dict, rows: np.ndarray) -> np.ndarray:
    """``[len(rows), width]`` uint8: the serialized examples ``rows``, whose bytes values have
    the same lengths."""
    blocks, total = [], 0
    for name in key_order(tuple(sorted([*floats, *texts]))):
        if name in floats:
            data = np.ascontiguousarray(floats[name][rows], dtype="<f4").view(np.uint8)
        else:
            width = len(texts[name][rows[0]])
            data = np.frombuffer(b"".join(texts[name][i] for i in rows), np.uint8).reshape(
                len(rows), width)
        head = np.frombuffer(_feature_head(name, data.shape[1], 2 if name in floats else 1),
                             np.uint8)
        blocks += [np.broadcast_to(head, (len(rows), len(head))), data]
        total += len(head) + data.shape[1]
    header = np.frombuffer(_field(1, total), np.uint8)
    return np.hstack([np.broadcast_to(header, (len(rows), len(header))), *blocks])


def serialize_examples(floats: dict, texts: dict | None = None) -> list:
    """The serialized Examples, one per row: ``floats`` maps feature names to ``[N, k]`` arrays
    (``k >= 1``, stored as float32 lists), ``texts`` to lists of N bytes (one-value bytes lists)."""
    texts = texts or {}
    n = len(next(iter(floats.values()))) if floats else len(next(iter(texts.values())))
    if any(np.shape(a)[1:] in ((), (0,)) or len(a) != n for a in floats.values()):
        raise ValueError("serialize_examples: each float feature needs [N, k >= 1] values")
    names = sorted(texts)
    lengths = np.array([[len(v) for v in texts[k]] for k in names], np.int64).reshape(-1, n).T
    floats = {k: np.asarray(v).reshape(n, -1) for k, v in floats.items()}
    out = [b""] * n
    for key in (np.unique(lengths, axis=0) if names else [lengths[0]]):
        rows = np.flatnonzero((lengths == key).all(1))
        matrix = _layout_rows(floats, texts, rows)
        flat, width = matrix.tobytes(), matrix.shape[1]
        for j, i in enumerate(rows.tolist()):
            out[i] = flat[j * width:(j + 1) * width]
    return out
