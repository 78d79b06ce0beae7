"""Pure functions ExampleGen applies to labeled long CSVs (one row per time step, with a label):
parsing, per-series label checks and the splits of the classification tasks.

A bad row becomes a :class:`~seqline.components.tasks.csv_records.Rejected` with its file, row and
reason; a series with inconsistent labels or splits is rejected as a whole.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from seqline.components.tasks import csv_records as cr

SPLIT_VALUES = ("train", "eval", "test")


@dataclass(frozen=True)
class LabeledRecord(cr.Record):
    """A :class:`~seqline.components.tasks.csv_records.Record` with its label and its given split
    (from the split column or the file it came from; ``""`` when the split is still to choose).
    ``timestamp`` is the sort key: a number, microseconds since 1970, or the row number."""

    label: str = ""
    split: str = ""


@dataclass(frozen=True)
class LabeledSpec:
    """Which columns of a labeled long CSV to read and how."""

    feature_columns: tuple
    label_column: str
    series_id_column: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    split_column: str | None = None


def parse_sort_key(text: str, fmt: str | None) -> float:
    """A time cell as a sort key: a plain number, else a time (``fmt`` or ISO 8601) in
    microseconds since 1970; raises ValueError."""
    if fmt is None:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is not None:
            if not math.isfinite(value):
                raise ValueError(text)
            return value
    return (cr.parse_time(text, fmt) - cr.EPOCH) // timedelta(microseconds=1)


def parse_labeled_row(item, spec: LabeledSpec, given_split: str = ""):
    """``(path, row, cells)`` -> LabeledRecord, or Rejected naming the bad field.

    ``given_split`` is the split of every row of the file (``"test"`` for ``data.test_path``);
    without it the split column, if any, gives the row's split.
    """
    path, number, cells = item
    if "__error__" in cells:
        return cr.Rejected(path, number, cells["__error__"], cells["__raw__"])
    raw = ",".join(cells.values())
    if spec.time_column:
        time = cells[spec.time_column].strip()
        try:
            key = parse_sort_key(time, spec.time_format)
        except ValueError:
            expected = spec.time_format or "a number or an ISO 8601 time"
            return cr.Rejected(path, number, f"column '{spec.time_column}': bad time {time!r} "
                                             f"(expected {expected})", raw)
    else:
        time, key = str(number), number
    values = []
    for column in spec.feature_columns:
        try:
            values.append(cr.parse_number(cells[column]))
        except ValueError as exc:
            return cr.Rejected(path, number, f"column '{column}': {exc}", raw)
    label = cells[spec.label_column].strip()
    if label.lower() in cr.MISSING_TOKENS:
        return cr.Rejected(path, number, f"column '{spec.label_column}': missing label", raw)
    split = given_split
    if spec.split_column and not given_split:
        split = cells[spec.split_column].strip().lower()
        if split not in SPLIT_VALUES:
            return cr.Rejected(path, number, f"column '{spec.split_column}': "
                                             f"{cells[spec.split_column]!r} is not train, eval "
                                             "or test", raw)
    series = cells[spec.series_id_column].strip() if spec.series_id_column else ""
    return LabeledRecord(series, key, time, number, tuple(values), path, label, split)


def series_consistency(series_id: str, records: list) -> list:
    """Rejections for a series whose rows disagree on the label or the split (then every row
    goes, with the counts in the reason); empty when the series is consistent."""
    for what, values in (("labels", Counter(r.label for r in records)),
                         ("splits", Counter(r.split for r in records))):
        if len(values) > 1:
            counts = ", ".join(f"{v or '(none)'}: {n} rows" for v, n in sorted(values.items()))
            reason = f"series '{series_id}' has several {what} ({counts}); a series needs one"
            return [cr.Rejected(r.file, r.row, reason, _raw(r)) for r in records]
    return []


def _raw(rec: LabeledRecord) -> str:
    values = ["" if math.isnan(v) else repr(v) for v in rec.values]
    return ",".join([rec.series_id, rec.time] + values + [rec.label])


def _held_out(keys: list, fraction: float, seed: int, keep_one: bool) -> list:
    """A deterministic ``fraction`` of ``keys`` (by a seeded hash, not by order)."""
    ranked = sorted(keys, key=lambda k: hashlib.sha256(f"{seed}/{k}".encode()).hexdigest())
    count = int(len(ranked) * fraction + 0.5)
    if keep_one:
        count = min(count, len(ranked) - 1)
    return ranked[:count]


def assign_series_splits(series: list, eval_fraction: float, test_fraction: float,
                         seed: int) -> dict:
    """Split of every series from ``(key, label, given split)`` triples.

    Given splits are kept. If no series is given ``test``, a ``test_fraction`` of the others is
    held out for test; if none is given ``eval``, an ``eval_fraction`` of the remaining train
    series is held out for eval. Both are stratified by label, chosen by a seeded hash of the
    key (the same for the same seed), and leave every label at least one train series.
    """
    splits = {key: given or "train" for key, _, given in series}
    givens = {given for _, _, given in series}
    for split, fraction in (("test", test_fraction), ("eval", eval_fraction)):
        if split in givens or fraction <= 0:
            continue
        by_label = {}
        for key, label, _ in series:
            if splits[key] == "train":
                by_label.setdefault(label, []).append(key)
        for keys in by_label.values():
            for key in _held_out(sorted(keys), fraction, seed, keep_one=True):
                splits[key] = split
    return splits


CANDIDATE_BLOCKS = 20   # candidate places of the held-out stretch: every 1/20 of a series


def position_segments(labels: list, fractions: dict) -> list:
    """Contiguous, time-ordered ``(split, start, end)`` pieces of a series with these step labels,
    sorted by start; empty pieces are left out.

    Train, eval and test get their ``fractions`` of the steps. Eval and test are one held-out
    stretch (eval first), at the series' end unless a test split lacking a label of the series
    can be avoided: then it ends at the latest of the candidate ends (every 1/20 of the series,
    back from its end) where test and train (the steps before and after it) hold every label of
    the series, eval too if some end allows it. The same labels always give the same pieces.
    """
    n = len(labels)
    n_train = int(round(n * fractions["train"]))
    n_eval = min(int(round(n * fractions["eval"])), n - n_train)
    held = n - n_train
    end = _held_out_end(labels, n_eval, held)
    bounds = [("train", 0, end - held), ("eval", end - held, end - held + n_eval),
              ("test", end - held + n_eval, end), ("train", end, n)]
    return [(split, start, stop) for split, start, stop in bounds if stop > start]


def _held_out_end(labels: list, n_eval: int, held: int) -> int:
    """Where the held-out stretch (``n_eval`` eval steps, then test) of :func:`position_segments`
    ends."""
    n = len(labels)
    names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    where = [np.flatnonzero(codes == c) for c in range(len(names))]

    def all_in(*ranges) -> bool:
        return all(any(np.searchsorted(w, a) < np.searchsorted(w, b) for a, b in ranges)
                   for w in where)

    block = max(1, n // CANDIDATE_BLOCKS)
    ends = range(n, held - 1, -block)
    for with_eval in (True, False) if n_eval else (False,):
        for end in ends:
            start, test = end - held, end - held + n_eval
            if (all_in((test, end)) and all_in((0, start), (end, n))
                    and (not with_eval or all_in((start, test)))):
                return end
    return n
