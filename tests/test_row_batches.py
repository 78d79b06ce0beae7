"""Columnar batches of CSV rows (:mod:`seqline.components.tasks.row_batches`) against the per-row
functions they replace in ExampleGen: the same records kept and the same quarantine records (file,
row, reason, raw) for fuzzed CSV files, and the same series checks as the per-record algorithm
they replaced, kept here as the reference. Fixed seeds and example counts bound the CI time."""
from __future__ import annotations

import csv
import gzip
import io
import math
import os

import apache_beam as beam
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqline.components import split_io
from seqline.components.tasks import csv_records as cr
from seqline.components.tasks import row_batches as rb
from seqline.pipeline.errors import DataError
from tests.test_input_fuzz import cells, dates, junk

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
SPEC = cr.RowSpec("time", ("a", "b"), "id")
ids = st.sampled_from(["s1", " s2 ", "s3", ""]) | junk
rows = st.lists(st.tuples(ids, dates, cells, cells) | st.lists(cells, max_size=5).map(tuple),
                max_size=40)


def write(folder, header, data_rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(data_rows)
    path = folder / "data.csv"
    path.write_bytes(out.getvalue().encode())
    return str(path)


def by_row(path: str, spec: cr.RowSpec, size: int) -> tuple:
    """``({row: (series, stamp, time, values)}, {row: (reason, raw)})`` from the chunks."""
    records, rejected = {}, {}
    for chunk in rb.read_chunks(path, size):
        batches, bad = rb.parse_chunk(chunk, spec)
        for rows_ in batches:
            for i, row in enumerate(rows_.rows.tolist()):
                assert row not in records
                records[row] = (rows_.series_id, int(rows_.stamps[i]), str(rows_.times[i]),
                                tuple(rows_.values[i].tolist()))
        for r in bad:
            assert r.file == path and r.row not in rejected
            rejected[r.row] = (r.reason, r.raw)
    return records, rejected


def same_values(a, b) -> bool:
    return len(a) == len(b) and all(math.isnan(x) if math.isnan(y) else x == y
                                    for x, y in zip(a, b))


@FUZZ
@given(rows, st.sampled_from([1, 3, 4096]))
def test_chunks_parse_every_row_as_parse_row_does(tmp_path_factory, data_rows, size):
    path = write(tmp_path_factory.mktemp("fuzz"), ["id", "time", "a", "b"], data_rows)
    records, rejected = by_row(path, SPEC, size)
    for _, number, cells_ in cr.read_rows(path):
        want = cr.parse_row((path, number, cells_), SPEC)
        if isinstance(want, cr.Rejected):
            assert rejected.pop(number) == (want.reason, want.raw)
        else:
            series, stamp, time, values = records.pop(number)
            assert (series, stamp, time) == (want.series_id, want.timestamp, want.time)
            assert same_values(values, want.values)
    assert not records and not rejected


def test_a_column_missing_from_the_file_rejects_each_row_naming_it(tmp_path):
    path = write(tmp_path, ["id", "time", "a", "a"], [["s1", "2020-01-01", "1", "2"]] * 3)
    records, rejected = by_row(path, SPEC, 2)
    assert not records
    assert rejected == {n: ("column 'b' is missing from this file", "s1,2020-01-01,2")
                        for n in (2, 3, 4)}


# --- the series checks against the per-record algorithm they replaced --------------------------

def reference_check_series(series_id, records, feature_columns, max_missing_run):
    """The per-record check_series of commit 3f0efe5, as it was."""
    records = sorted(records, key=lambda r: (r.file, r.row))
    out_of_order = sum(1 for a, b in zip(records, records[1:]) if b.timestamp < a.timestamp)
    records.sort(key=lambda r: (r.timestamp, r.file, r.row))
    kept, rejected, first_row = [], [], {}
    for rec in records:
        if rec.timestamp in first_row:
            rejected.append(cr.Rejected(rec.file, rec.row, f"duplicate timestamp {rec.time} in "
                                        f"series '{series_id}' (first at row "
                                        f"{first_row[rec.timestamp]})", cr._raw(rec)))
            continue
        first_row[rec.timestamp] = rec.row
        kept.append(rec)
    too_long = set()
    for j, column in enumerate(feature_columns):
        start = None
        for i, rec in enumerate(kept + [None]):
            missing = rec is not None and math.isnan(rec.values[j])
            if missing and start is None:
                start = i
            elif not missing and start is not None:
                if i - start > max_missing_run:
                    for k in range(start, i):
                        too_long.add((k, column, i - start))
                start = None
    reasons = {}
    for k, column, length in sorted(too_long):
        reasons.setdefault(k, f"column '{column}' missing for {length} consecutive rows "
                              f"(limit data.max_missing_run={max_missing_run})")
    rejected += [cr.Rejected(kept[k].file, kept[k].row, reason, cr._raw(kept[k]))
                 for k, reason in reasons.items()]
    return [rec for k, rec in enumerate(kept) if k not in reasons], rejected, out_of_order


series_records = st.lists(st.tuples(st.sampled_from(["a.csv", "b.csv"]), st.integers(0, 12),
                                    st.booleans(), st.booleans()), max_size=40)


@FUZZ
@given(series_records, st.integers(0, 3))
def test_series_checks_match_the_per_record_algorithm(data, limit):
    columns = ("z", "m")     # not in name order: the reason names the first column by name
    records = [cr.Record("s", day * 86400_000_000, f"day {day}", row, (
        math.nan if za else float(row), math.nan if ma else -0.5), file)
        for row, (file, day, za, ma) in enumerate(data, start=2)]
    want = reference_check_series("s", records, columns, limit)
    assert cr.check_series("s", records, columns, limit) == want
    parts = [rb.SeriesRows("s", (f,), np.zeros(len(rs), np.int64),
                           np.array([r.row for r in rs], np.int64),
                           np.array([r.timestamp for r in rs], np.int64),
                           np.array([r.time for r in rs]),
                           np.array([r.values for r in rs], np.float64).reshape(len(rs), 2))
             for f in ("b.csv", "a.csv") for rs in [[r for r in records if r.file == f]] if rs]
    if not parts:
        return
    kept, rejected, out_of_order = rb.check_series("s", parts, columns, limit)
    assert out_of_order == want[2] and rejected == want[1]
    assert [(kept.files[c], r) for c, r in zip(kept.file.tolist(), kept.rows.tolist())] == [
        (r.file, r.row) for r in want[0]]


# --- split files in runs and batches ----------------------------------------------------------------------------

def test_run_writer_writes_the_bytes_of_the_per_example_one(tmp_path):
    runs = [("train" if i % 3 else "test", f"s{i:02d}",
             [f"example {i}.{j}".encode() * (j % 5 + 1) for j in range(i % 7 + 1)])
            for i in range(60)]
    items = [(split, (key, j), data) for split, key, run in runs for j, data in enumerate(run)]
    for name, write, elements in (("rows", split_io.WriteSplits, items),
                                  ("runs", split_io.WriteSplitRuns, runs[::-1])):
        with beam.Pipeline() as p:
            _ = p | beam.Create(elements) | write(str(tmp_path / name), shards=3)
    split_io.finish_splits(str(tmp_path / "runs"), ("train", "test"), 3)
    assert sorted(os.listdir(tmp_path / "runs")) == sorted(os.listdir(tmp_path / "rows"))  # no parts left
    for split in ("train", "test"):
        for shard in range(3):
            a, b = (split_io.shard_file(str(tmp_path / n), split, shard, 3) for n in ("rows", "runs"))
            with open(a, "rb") as fa, open(b, "rb") as fb:
                assert fa.read() == fb.read()
            with gzip.open(a) as fh:
                assert fh.read()     # every shard received records


def test_split_batches_read_every_record_and_name_a_damaged_one(tmp_path):
    data = [f"example {i}".encode() * (i % 4 + 1) for i in range(10)]
    framed = b"".join(split_io.tfrecord_frame(d) for d in data)
    path = tmp_path / "Split-train-00000-of-00001.tfrecord.gz"
    path.write_bytes(gzip.compress(framed))
    assert list(split_io._split_batches(str(path), 4)) == [
        ("train", data[:4]), ("train", data[4:8]), ("train", data[8:])]
    for block in (1, 7, 50):      # records across the decompressed blocks
        assert list(split_io.read_records(str(path), block)) == data
    damaged = bytearray(framed)
    damaged[len(split_io.tfrecord_frame(data[0])) + 14] ^= 1     # inside record 2's data
    for blob, what in ((bytes(damaged), "record 2 is damaged"), (framed[:-3], "record 10 is damaged")):
        path.write_bytes(gzip.compress(blob))
        for block in (5, 1 << 20):
            with pytest.raises(DataError, match=what):
                list(split_io.read_records(str(path), block))
