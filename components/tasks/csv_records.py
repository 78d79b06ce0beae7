"""Pure functions ExampleGen applies to CSV rows: parsing, per-series checks, time splits, and
the quarantine every task writes.

Each bad row becomes a :class:`Rejected` with its file, row number and reason; nothing is dropped
silently.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from seqline.pipeline.errors import DataError

MISSING_TOKENS = {"", "na", "nan", "null", "none", "n/a"}
FLOAT32_MAX = 3.4028234663852886e38      # the largest float32
FLOAT32_TINY = 1.1754943508222875e-38    # the smallest normal float32
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Record:
    """One parsed row: its series, timestamp (epoch seconds), source row and feature values."""

    series_id: str
    timestamp: int             # microseconds since 1970-01-01 UTC
    time: str
    row: int
    values: tuple
    file: str = ""


@dataclass(frozen=True)
class Rejected:
    """A row that went to quarantine, with why."""

    file: str
    row: int
    reason: str
    raw: str


@dataclass(frozen=True)
class RowSpec:
    """Which columns to read and how."""

    time_column: str
    feature_columns: tuple
    series_id_column: str | None = None
    time_format: str | None = None


def decoded_lines(path: str):
    """The file's lines as text; a line that is not UTF-8 is an error naming its number."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: line {number} is not UTF-8 text ({exc.reason}); "
                                "save the file as UTF-8") from None


class _Lines:
    """An iterator over lines that remembers the last one it gave."""

    def __init__(self, lines):
        self.lines, self.last = iter(lines), ""

    def __iter__(self):
        return self

    def __next__(self):
        self.last = next(self.lines)
        return self.last


RAW_LIMIT = 1000   # characters of an unreadable row's raw text kept in the quarantine


def csv_rows(path: str):
    """``(header, rows)``: the header's column names and an iterator of ``(row number, cells)``
    per data row (header is row 1; blank rows are skipped). ``cells`` is the list of the row's
    texts, or ``{"__error__": reason, "__raw__": text}`` for a row the CSV reader refuses (e.g. a
    field over its 131,072-character limit) or whose field count is not the header's."""
    lines = _Lines(decoded_lines(path))
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader, [])]

    def rows():
        number = 1
        while True:
            number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw = lines.last.rstrip("\r\n")
                if len(raw) > RAW_LIMIT:
                    raw = f"{raw[:RAW_LIMIT]}... ({len(raw):,} characters)"
                yield number, {"__error__": f"unreadable CSV row ({exc})", "__raw__": raw}
                continue
            if not any(map(str.strip, values)):
                continue
            if len(values) != len(header):
                yield number, {"__error__": f"has {len(values)} fields, header has "
                                            f"{len(header)}", "__raw__": ",".join(values)}
                continue
            yield number, values

    return header, rows()


def read_rows(path: str):
    """Yield ``(path, row number, {column: text})`` for each data row of :func:`csv_rows` (an
    error row's cells are its ``__error__``/``__raw__`` dict)."""
    header, rows = csv_rows(path)
    for number, cells in rows:
        yield path, number, cells if isinstance(cells, dict) else dict(zip(header, cells))


def parse_time(text: str, fmt: str | None) -> datetime:
    """Parse a timestamp; naive times are taken as UTC."""
    value = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_number(text: str) -> float:
    """A float, or NaN for an empty/NA cell; raises ValueError with the reason for anything
    else, including a number float32 (what the examples store) cannot hold."""
    if text.strip().lower() in MISSING_TOKENS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"{text!r} is not a number")
    if abs(value) > FLOAT32_MAX:
        raise ValueError(f"{text.strip()} is outside the float32 range (magnitude at most "
                         "3.4e38)")
    if 0 < abs(value) < FLOAT32_TINY:
        raise ValueError(f"{text.strip()} is too small for float32 (it would become 0; "
                         "magnitude at least 1.2e-38, or 0)")
    return value


def parse_row(item, spec: RowSpec):
    """Turn ``(path, row, cells)`` into a Record, or a Rejected naming the bad field."""
    path, number, cells = item
    if "__error__" in cells:
        return Rejected(path, number, cells["__error__"], cells["__raw__"])
    raw = ",".join(cells.values())
    for column in (spec.time_column, *spec.feature_columns, spec.series_id_column):
        if column and column not in cells:
            return Rejected(path, number, f"column '{column}' is missing from this file", raw)
    text = cells[spec.time_column].strip()
    try:
        stamp = parse_time(text, spec.time_format)
    except ValueError:
        expected = spec.time_format or "ISO 8601, e.g. 2017-11-10"
        return Rejected(path, number, f"column '{spec.time_column}': bad date {text!r} "
                                      f"(expected {expected})", raw)
    values = []
    for column in spec.feature_columns:
        try:
            values.append(parse_number(cells[column]))
        except ValueError as exc:
            return Rejected(path, number, f"column '{column}': {exc}", raw)
    series = cells[spec.series_id_column].strip() if spec.series_id_column else ""
    micros = (stamp - EPOCH) // timedelta(microseconds=1)
    return Record(series, micros, text, number, tuple(values), path)


def check_series(series_id: str, records, feature_columns, max_missing_run: int):
    """Sort one series by time; reject duplicate timestamps and too-long runs of missing values.

    Returns ``(kept records in time order, rejected, number of rows that were out of order)``;
    the checks are :func:`check_arrays`'.
    """
    records = list(records)
    names = sorted({r.file for r in records})
    code = {name: i for i, name in enumerate(names)}
    kept, rejects, out_of_order = check_arrays(
        series_id, np.array([code[r.file] for r in records], np.int64),
        np.array([r.row for r in records], np.int64),
        np.array([r.timestamp for r in records], np.int64), [r.time for r in records],
        np.array([[math.isnan(v) for v in r.values] for r in records], bool).reshape(
            len(records), len(feature_columns)),
        feature_columns, max_missing_run)
    rejected = [Rejected(records[i].file, records[i].row, reason, _raw(records[i]))
                for i, reason in rejects]
    return [records[i] for i in kept], rejected, out_of_order


def check_arrays(series_id: str, files, rows, stamps, times, missing, feature_columns,
                 max_missing_run: int):
    """The checks of one series given as arrays: ``files`` (codes in the order of the files'
    names), ``rows``, ``stamps``, ``times`` (the time texts) and ``missing`` (``[rows, features]``
    booleans).

    Rows are sorted by (timestamp, file, row); a timestamp seen before is rejected naming the
    first row, then a run of more than ``max_missing_run`` missing values of a column rejects its
    rows (naming the first such column by name). Returns ``(indices kept, in time order,
    [(index, reason)] rejected, number of rows out of time order in file order)``.
    """
    n = len(stamps)
    out_of_order = int(np.count_nonzero(np.diff(stamps[np.lexsort((rows, files))]) < 0))
    order = np.lexsort((rows, files, stamps))
    ordered = stamps[order]
    repeat = np.zeros(n, bool)
    repeat[1:] = ordered[1:] == ordered[:-1]
    first = order[np.maximum.accumulate(np.where(repeat, 0, np.arange(n)))] if n else order
    rejects = [(int(order[i]), f"duplicate timestamp {times[order[i]]} in series '{series_id}' "
                               f"(first at row {rows[first[i]]})") for i in np.flatnonzero(repeat)]
    kept = order[~repeat]
    reasons = {}
    for j in sorted(range(len(feature_columns)), key=lambda j: feature_columns[j]):
        edges = np.diff(np.concatenate(([0], missing[kept, j].astype(np.int8), [0])))
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if end - start > max_missing_run:
                reason = (f"column '{feature_columns[j]}' missing for {end - start} consecutive "
                          f"rows (limit data.max_missing_run={max_missing_run})")
                for k in range(start, end):
                    reasons.setdefault(k, reason)
    rejects += [(int(kept[k]), reasons[k]) for k in sorted(reasons)]
    long_runs = np.zeros(len(kept), bool)
    long_runs[list(reasons)] = True
    return kept[~long_runs], rejects, out_of_order


def _raw(rec: Record) -> str:
    return raw_text(rec.series_id, rec.time, rec.values)


def raw_text(series_id: str, time: str, values) -> str:
    """A checked row as the quarantine shows it: series, time and values (empty where missing)."""
    return ",".join([series_id, time] + ["" if math.isnan(v) else repr(v) for v in values])


def split_boundaries(timestamps, fractions: dict) -> tuple:
    """Cut points over the sorted distinct timestamps: train < t1 <= eval < t2 <= test."""
    stamps = sorted(set(timestamps))
    n = len(stamps)
    if n == 0:
        return 0, 0
    n_train = max(1, int(round(n * fractions["train"])))
    n_eval = int(round(n * fractions["eval"]))
    n_train = min(n_train, n - 1) if n > 1 else n
    n_eval = min(n_eval, max(0, n - n_train - 1))
    t1 = stamps[n_train] if n_train < n else stamps[-1] + 1
    t2 = stamps[n_train + n_eval] if n_train + n_eval < n else stamps[-1] + 1
    return t1, t2


def cutoff_time(timestamps, until: float) -> int:
    """The first timestamp after the oldest ``until`` fraction of the sorted distinct ones (rows
    from it on are left out, e.g. by a backtest fold); past the last one when ``until`` is 1."""
    stamps = sorted(set(timestamps))
    used = max(1, int(round(len(stamps) * until)))
    return stamps[used] if used < len(stamps) else (stamps[-1] + 1 if stamps else 0)


def split_of(timestamp: int, boundaries: tuple) -> str:
    """The split a timestamp belongs to, given :func:`split_boundaries`."""
    t1, t2 = boundaries
    return "train" if timestamp < t1 else ("eval" if timestamp < t2 else "test")


def write_quarantine(rejected: list, path: str) -> None:
    """``quarantine.csv``: one ``file,row,reason,raw`` line per rejected record, by file and row."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "reason", "raw"])
        for r in sorted(rejected, key=lambda r: (r.file, r.row)):
            writer.writerow([os.path.basename(r.file), r.row, r.reason, r.raw])


def check_bad_fraction(source: str, rejected: int, total: int, limit: float, quarantine_csv: str,
                       echo, unit: str = "rows") -> float:
    """Report the quarantined fraction; stop with a DataError quoting the first reasons if it
    exceeds ``limit`` (``data.max_bad_fraction``). Returns the fraction."""
    fraction = rejected / total if total else 0.0
    if rejected:
        echo(f"{rejected} of {total} {unit} quarantined ({fraction:.2%}); reasons in the "
             "quarantine artifact's quarantine.csv")
    if fraction > limit:
        with open(quarantine_csv, encoding="utf-8") as fh:
            first = list(csv.DictReader(fh))[:3]
        sample = "; ".join(f"row {r['row']}: {r['reason']}" for r in first)
        raise DataError(f"{source}: {rejected} of {total} {unit} are bad ({fraction:.1%}), above "
                        f"data.max_bad_fraction={limit} — {sample}")
    return fraction
