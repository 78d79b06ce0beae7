"""tf.train.Example encoding of time-series records (one example per time step)."""
from __future__ import annotations

import numpy as np

from seqline.components.example_proto import Example
from seqline.components.tasks.csv_records import Record


def decode(data: bytes, feature_columns) -> Record:
    """One example of :func:`encode_rows` as a Record."""
    f = Example.FromString(data).features.feature
    values = tuple(f[f"feature/{c}"].float_list.value[0] for c in feature_columns)
    return Record(f["meta/series_id"].bytes_list.value[0].decode(),
                  f["meta/timestamp"].int64_list.value[0], f["meta/time"].bytes_list.value[0].decode(),
                  f["meta/row"].int64_list.value[0], values, f["meta/file"].bytes_list.value[0].decode())


def read_decoded(path: str, feature_columns, size: int = 4096):
    """The examples of :func:`encode_rows` in the split file ``path``, read and parsed by tf.data
    (C++, CRCs checked) ``size`` at a time: ``(split, rows)`` per batch, ``rows`` holding
    ``series_id`` (bytes), ``timestamp`` (int64), ``time`` (bytes) and ``values`` ``[N, F]``
    (float64, NaN missing). A damaged file is a DataError naming it."""
    import tensorflow as tf

    from seqline.components.split_io import split_of_file
    from seqline.pipeline import counters
    from seqline.pipeline.errors import DataError

    spec = {f"feature/{c}": tf.io.FixedLenFeature([], tf.float32) for c in feature_columns}
    spec.update({"meta/series_id": tf.io.FixedLenFeature([], tf.string),
                 "meta/timestamp": tf.io.FixedLenFeature([], tf.int64),
                 "meta/time": tf.io.FixedLenFeature([], tf.string)})
    split, read = split_of_file(path), 0
    batches = tf.data.TFRecordDataset(path, compression_type="GZIP").batch(size).map(
        lambda s: tf.io.parse_example(s, spec))
    try:
        for parsed in batches.as_numpy_iterator():
            values = np.stack([parsed[f"feature/{c}"] for c in feature_columns], 1)
            n = len(values)
            read += n
            counters.add("records read", n)
            yield split, {"series_id": parsed["meta/series_id"],
                          "timestamp": parsed["meta/timestamp"], "time": parsed["meta/time"],
                          "values": values.astype(np.float64).reshape(n, len(feature_columns))}
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        raise DataError(f"{path}: damaged after record {read} ({e.message.splitlines()[0]}); run "
                        "the stage that wrote it again") from None


def encode_rows(rows, feature_columns) -> list:
    """The serialized Example of each row of a
    :class:`~seqline.components.tasks.row_batches.SeriesRows` (same bytes in every process):
    ``meta/{series_id,timestamp,time,row,file}``, feature values under ``feature/<column>``. One
    Example is filled in place rather than one built per row."""
    ex = Example()
    f = ex.features.feature
    f["meta/series_id"].bytes_list.value.append(rows.series_id.encode())
    stamp, row = f["meta/timestamp"].int64_list.value, f["meta/row"].int64_list.value
    time, file = f["meta/time"].bytes_list.value, f["meta/file"].bytes_list.value
    values = [f[f"feature/{column}"].float_list.value for column in feature_columns]
    for slot, empty in ((stamp, 0), (row, 0), (time, b""), (file, b""), *((v, 0.0) for v in values)):
        slot.append(empty)
    names = [name.encode() for name in rows.files]
    out = []
    for s, t, r, c, vs in zip(rows.stamps.tolist(), rows.times.tolist(), rows.rows.tolist(),
                              rows.file.tolist(), rows.values.tolist()):
        stamp[0], time[0], row[0], file[0] = s, t.encode(), r, names[c]
        for slot, v in zip(values, vs):
            slot[0] = v
        out.append(ex.SerializeToString(deterministic=True))
    return out
