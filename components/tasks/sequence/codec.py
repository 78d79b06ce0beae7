"""tf.train.Example encoding of labeled sequences: one example per series (classification) or
per time-ordered piece of a series (labeling)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tensorflow.core.example import example_pb2


@dataclass
class Sequence:
    """Steps of one series in time order: ``values [n, F]`` (NaN = missing), one label per step
    or one for the whole series, and where the piece starts in its series."""

    series_id: str
    values: np.ndarray
    labels: list
    start: int = 0
    first_row: int = 0
    file: str = ""

    @property
    def length(self) -> int:
        return len(self.values)


def encode(seq: Sequence) -> bytes:
    """Serialize; values go under ``values`` (row-major), labels under ``labels``."""
    ex = example_pb2.Example()
    f = ex.features.feature
    f["values"].float_list.value.extend(np.asarray(seq.values, np.float32).ravel())
    f["labels"].bytes_list.value.extend(label.encode() for label in seq.labels)
    f["length"].int64_list.value.append(seq.length)
    f["meta/series_id"].bytes_list.value.append(seq.series_id.encode())
    f["meta/start"].int64_list.value.append(seq.start)
    f["meta/first_row"].int64_list.value.append(seq.first_row)
    f["meta/file"].bytes_list.value.append(seq.file.encode())
    return ex.SerializeToString(deterministic=True)


def decode(data: bytes, n_features: int) -> Sequence:
    """Inverse of :func:`encode`."""
    f = example_pb2.Example.FromString(data).features.feature
    values = np.array(f["values"].float_list.value, np.float64).reshape(-1, n_features)
    return Sequence(f["meta/series_id"].bytes_list.value[0].decode(), values,
                    [b.decode() for b in f["labels"].bytes_list.value],
                    f["meta/start"].int64_list.value[0], f["meta/first_row"].int64_list.value[0],
                    f["meta/file"].bytes_list.value[0].decode())
