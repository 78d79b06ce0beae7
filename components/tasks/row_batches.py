"""CSV rows as columnar batches: read in chunks, parsed and checked with NumPy, one series at a time.

What :func:`~seqline.components.tasks.csv_records.parse_row` and
:func:`~seqline.components.tasks.csv_records.check_series` do to one row or one series of records,
done to a chunk of a few thousand rows: the same records kept, and each bad row rejected with the
same file, row number, reason and raw text, at a small fraction of the per-row cost (no Python
object per row crosses a Beam transform).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from seqline.components.tasks import csv_records as cr
from seqline.pipeline import counters

CHUNK_ROWS = 32768


@dataclass
class SeriesRows:
    """Rows of one series as columns: the source ``files`` (names, sorted) and per row its
    ``file`` (an index into them), ``rows`` (row numbers), ``stamps`` (microseconds since 1970
    UTC), ``times`` (the time texts) and ``values`` (``[rows, features]`` floats, NaN missing)."""

    series_id: str
    files: tuple
    file: np.ndarray
    rows: np.ndarray
    stamps: np.ndarray
    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index) -> SeriesRows:
        """The rows at ``index`` (indices or a boolean mask), in that order."""
        return SeriesRows(self.series_id, self.files, self.file[index], self.rows[index],
                          self.stamps[index], self.times[index], self.values[index])

    @staticmethod
    def concat(parts) -> SeriesRows:
        """One series from several batches of it (e.g. from several files or chunks)."""
        parts = list(parts)
        files = tuple(sorted({name for p in parts for name in p.files}))
        code = {name: i for i, name in enumerate(files)}
        return SeriesRows(parts[0].series_id, files,
                          np.concatenate([np.array([code[f] for f in p.files], np.int64)[p.file]
                                          for p in parts]),
                          *(np.concatenate([getattr(p, k) for p in parts])
                            for k in ("rows", "stamps", "times", "values")))


def read_chunks(path: str, size: int = CHUNK_ROWS):
    """Yield ``(path, header, [(row number, cells), ...])`` chunks of ``size`` rows of
    :func:`~seqline.components.tasks.csv_records.csv_rows`, counted as ``rows read``."""
    header, rows = cr.csv_rows(path)
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) == size:
            counters.add("rows read", size)
            yield path, header, chunk
            chunk = []
    if chunk:
        counters.add("rows read", len(chunk))
        yield path, header, chunk


def parse_numbers(texts: list) -> tuple:
    """``(float64 values, {index: reason})`` of cells as
    :func:`~seqline.components.tasks.csv_records.parse_number` reads them (NaN where missing or
    bad); ``float`` first, ``parse_number`` for each cell it leaves in doubt."""
    try:
        values = np.array([float(t) for t in texts], np.float64)
        magnitude = np.abs(values)
        doubt = np.flatnonzero(~np.isfinite(values) | (magnitude > cr.FLOAT32_MAX)
                               | ((magnitude > 0) & (magnitude < cr.FLOAT32_TINY)))
    except ValueError:
        values, doubt = np.empty(len(texts), np.float64), range(len(texts))
    errors = {}
    for k in doubt:
        try:
            values[k] = cr.parse_number(texts[k])
        except ValueError as exc:
            values[k], errors[k] = math.nan, str(exc)
    return values, errors


def _micros(texts: list, fmt) -> list:
    """Microseconds since 1970 UTC of each time text, ``None`` where it is not a time; each
    distinct text parsed once (the series of a chunk share their timestamps)."""
    seen = {}
    for text in texts:
        if text not in seen:
            try:
                seen[text] = (cr.parse_time(text, fmt) - cr.EPOCH) // timedelta(microseconds=1)
            except ValueError:
                seen[text] = None
    return [seen[t] for t in texts]


def parse_chunk(item, spec: cr.RowSpec) -> tuple:
    """A chunk of :func:`read_chunks` -> ``([SeriesRows], [Rejected])``: the good rows by series
    (in the chunk's order), and each bad row with the reason ``parse_row`` gives it."""
    path, header, chunk = item
    rejected = [cr.Rejected(path, n, c["__error__"], c["__raw__"]) for n, c in chunk
                if isinstance(c, dict)]
    good = [(n, c) for n, c in chunk if not isinstance(c, dict)]
    if not good:
        return [], rejected
    numbers, cells = [n for n, _ in good], [c for _, c in good]
    index = {name: i for i, name in enumerate(header)}   # a repeated name: its last column

    def reject(k, reason):
        raw = ",".join(dict(zip(header, cells[k])).values())
        rejected.append(cr.Rejected(path, numbers[k], reason, raw))

    absent = next((c for c in (spec.time_column, *spec.feature_columns, spec.series_id_column)
                   if c and c not in index), None)
    if absent:
        for k in range(len(cells)):
            reject(k, f"column '{absent}' is missing from this file")
        return [], rejected
    reasons = [None] * len(cells)
    times = [c[index[spec.time_column]].strip() for c in cells]
    stamps = _micros(times, spec.time_format)
    expected = spec.time_format or "ISO 8601, e.g. 2017-11-10"
    for k in (k for k, s in enumerate(stamps) if s is None):
        reasons[k] = f"column '{spec.time_column}': bad date {times[k]!r} (expected {expected})"
    values = np.empty((len(cells), len(spec.feature_columns)), np.float64)
    for j, column in enumerate(spec.feature_columns):
        values[:, j], errors = parse_numbers([c[index[column]] for c in cells])
        for k, error in errors.items():
            reasons[k] = reasons[k] or f"column '{column}': {error}"
    ids = ([c[index[spec.series_id_column]].strip() for c in cells] if spec.series_id_column
           else [""] * len(cells))
    by_series = {}
    for k, reason in enumerate(reasons):
        if reason:
            reject(k, reason)
        else:
            by_series.setdefault(ids[k], []).append(k)
    rows, times = np.array(numbers, np.int64), np.array(times)
    stamps = np.array([s or 0 for s in stamps], np.int64)
    batches = [SeriesRows(series, (path,), np.zeros(len(ks), np.int64), rows[ks], stamps[ks],
                          times[ks], values[ks]) for series, ks in by_series.items()]
    return batches, rejected


def check_series(series_id: str, parts, feature_columns, max_missing_run: int) -> tuple:
    """The batches of one series -> ``(kept SeriesRows in time order, [Rejected], rows out of
    order)``, as :func:`~seqline.components.tasks.csv_records.check_series` checks records."""
    rows = SeriesRows.concat(parts)
    kept, rejects, out_of_order = cr.check_arrays(
        series_id, rows.file, rows.rows, rows.stamps, rows.times, np.isnan(rows.values),
        feature_columns, max_missing_run)
    rejected = [cr.Rejected(rows.files[rows.file[i]], int(rows.rows[i]), reason,
                            cr.raw_text(series_id, str(rows.times[i]), rows.values[i].tolist()))
                for i, reason in rejects]
    return rows.take(kept), rejected, out_of_order
