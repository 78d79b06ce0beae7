"""tf.train.Example encoding of time-series records (one example per time step)."""
from __future__ import annotations

from seqline.components.example_proto import Example
from seqline.components.tasks.csv_records import Record


def encode(rec: Record, feature_columns) -> bytes:
    """Serialize a record (same bytes in every process); feature values go under
    ``feature/<column>``."""
    ex = Example()
    f = ex.features.feature
    f["meta/series_id"].bytes_list.value.append(rec.series_id.encode())
    f["meta/timestamp"].int64_list.value.append(rec.timestamp)
    f["meta/time"].bytes_list.value.append(rec.time.encode())
    f["meta/row"].int64_list.value.append(rec.row)
    f["meta/file"].bytes_list.value.append(rec.file.encode())
    for column, value in zip(feature_columns, rec.values):
        f[f"feature/{column}"].float_list.value.append(value)
    return ex.SerializeToString(deterministic=True)


def decode(data: bytes, feature_columns) -> Record:
    """Inverse of :func:`encode`."""
    f = Example.FromString(data).features.feature
    values = tuple(f[f"feature/{c}"].float_list.value[0] for c in feature_columns)
    return Record(f["meta/series_id"].bytes_list.value[0].decode(),
                  f["meta/timestamp"].int64_list.value[0], f["meta/time"].bytes_list.value[0].decode(),
                  f["meta/row"].int64_list.value[0], values, f["meta/file"].bytes_list.value[0].decode())
