"""Time-series ExampleGen: CSV -> time-split TFRecords, bad rows in a quarantine artifact.

Outputs
    examples: ``Split-{train,eval,test}-*.tfrecord.gz``, one ``tf.train.Example`` per time step.
    quarantine: ``quarantine.csv`` (file, row, reason, raw) sorted by file and row.
With ``data.split_by: time`` every eval/test timestamp comes after every train timestamp, across
all series; with ``split_by: series`` each series is split by its own time range (for series
with different spans, so that each one is tested).
"""
from __future__ import annotations

import functools
import json
import os
from typing import NamedTuple

import apache_beam as beam
import numpy as np

from seqline.components.beam_outputs import every_output
from seqline.components.split_io import (SPLITS, WriteSplitRuns, finish_splits, read_part,
                                         stage_part)
from seqline.components.tasks import csv_records as cr
from seqline.components.tasks import row_batches as rb
from seqline.components.tasks.csv_beam import ParseBatches
from seqline.components.tasks.forecast.codec import encode_rows
from seqline.pipeline.errors import DataError


class CheckSeries(beam.PTransform):
    """``(series id, SeriesRows)`` batches -> one ``(kept SeriesRows in time order, rejected,
    rows out of order)`` per series: duplicates and long missing runs rejected. The batches
    wait for the grouping as part files under ``folder`` (:func:`~seqline.components.split_io.
    stage_part`), so only their paths are held."""

    def __init__(self, feature_columns, max_missing_run: int, folder: str):
        super().__init__()
        self.feature_columns = feature_columns
        self.max_missing_run = max_missing_run
        self.folder = folder

    def expand(self, batches):
        folder = self.folder
        return (batches
                | "Stage" >> beam.MapTuple(lambda sid, rows: (sid, stage_part(
                    folder, ("chunk", sid, rows.files, int(rows.file[0]), int(rows.rows[0])),
                    rows)))
                | "Group" >> beam.GroupByKey()
                | "Check" >> beam.Map(lambda kv: rb.check_series(
                    kv[0], [read_part(path) for path in sorted(kv[1])], self.feature_columns,
                    self.max_missing_run)))


class KeptSeries(NamedTuple):
    """A checked series waiting in a part file: its id, the file, the timestamps of the rows
    kept and, with ``data.until``, the time before which they are kept."""

    series_id: str
    path: str
    stamps: np.ndarray
    cutoff: int | None = None


def stage_kept(rows, folder: str) -> KeptSeries:
    """A checked series' rows as a part file under ``folder``."""
    return KeptSeries(rows.series_id, stage_part(folder, ("kept", rows.series_id), rows),
                      rows.stamps)


def read_kept(kept: KeptSeries):
    """The series' rows (those before the cutoff)."""
    rows = read_part(kept.path)
    return rows if kept.cutoff is None else rows.take(rows.stamps < kept.cutoff)


class DistinctStampsFn(beam.CombineFn):
    """Arrays of timestamps -> the sorted distinct ones, as a list of ints."""

    def create_accumulator(self):
        return np.zeros(0, np.int64)

    def add_input(self, acc, stamps):
        return np.union1d(acc, stamps)

    def merge_accumulators(self, accs):
        return functools.reduce(np.union1d, accs, self.create_accumulator())

    def extract_output(self, acc):
        return acc.tolist()


def split_codes(stamps, boundaries: tuple):
    """:func:`~seqline.components.tasks.csv_records.split_of` of each timestamp, as an index
    into ``SPLITS``."""
    t1, t2 = boundaries
    return np.where(stamps < t1, 0, np.where(stamps < t2, 1, 2))


def encoded_splits(rows, bounds: dict, key: str, columns) -> list:
    """``(split, series id, [example bytes in time order])`` of a kept series, per split."""
    codes = split_codes(rows.stamps, bounds[key])
    return [(split, rows.series_id, encode_rows(rows.take(codes == i), columns))
            for i, split in enumerate(SPLITS) if (codes == i).any()]


def generate(params: dict, examples, quarantine, ctx) -> dict:
    """Run the Beam pipeline for the ``data`` section ``params``; return key metrics."""
    paths = params["files"]
    if not paths:
        raise DataError(f"data.path: no file matches {params['path']}")
    spec = cr.RowSpec(params["time_column"], tuple(params["feature_columns"]),
                      params["series_id_column"], params["time_format"])
    os.makedirs(quarantine.uri, exist_ok=True)
    summary_path = quarantine.path("summary.json")
    columns = spec.feature_columns
    by_series = params.get("split_by") == "series"

    def split_key(series_id: str) -> str:
        return series_id if by_series else ""

    with beam.Pipeline(options=ctx.beam_options()) as p:
        parsed = p | "Paths" >> beam.Create(paths) | "ParseBatches" >> ParseBatches(spec)
        checked = parsed.records | "CheckSeries" >> CheckSeries(columns, params["max_missing_run"],
                                                                examples.uri)
        kept = checked | "Kept" >> beam.FlatMap(
            lambda c: [stage_kept(c[0], examples.uri)] if len(c[0]) else [])
        if params["until"] < 1.0:
            cutoff = (kept | "CutoffStamps" >> beam.Map(lambda k: k.stamps)
                      | "CutoffSet" >> beam.CombineGlobally(DistinctStampsFn())
                      | "Cutoff" >> beam.Map(cr.cutoff_time, params["until"]))
            kept = kept | "BeforeCutoff" >> beam.FlatMap(
                lambda k, c: [k._replace(stamps=k.stamps[k.stamps < c], cutoff=c)]
                if k.stamps[0] < c else [], c=beam.pvalue.AsSingleton(cutoff))
        rejected = ((parsed.rejected, checked | "SeriesRejects" >> beam.FlatMap(lambda c: c[1]))
                    | "AllRejects" >> beam.Flatten())
        bounds = (kept | "Stamps" >> beam.Map(lambda k: (split_key(k.series_id), k.stamps))
                  | "StampSets" >> beam.CombinePerKey(DistinctStampsFn())
                  | "Bounds" >> beam.MapTuple(
                      lambda key, stamps: (key, cr.split_boundaries(stamps, params["split"]))))
        written = (kept
                   | "Encode" >> beam.FlatMap(
                       lambda k, b: encoded_splits(read_kept(k), b, split_key(k.series_id),
                                                   columns), b=beam.pvalue.AsDict(bounds))
                   | "Write" >> WriteSplitRuns(examples.uri))
        quarantined = (rejected | "RejectList" >> beam.combiners.ToList()
                       | "WriteQuarantine" >> beam.Map(cr.write_quarantine,
                                                       quarantine.path("quarantine.csv")))
        tallies = ((written,   # (split, rows) per shard
                    rejected | "RejectTally" >> beam.Map(lambda r: ("rejected", 1)),
                    checked | "SeriesTally" >> beam.FlatMap(
                        lambda c: [("series", 1), ("out_of_order", c[2])]),
                    kept | "Untested" >> beam.FlatMap(
                        lambda k, b: [] if (split_codes(k.stamps, b[split_key(k.series_id)]) == 2).any()
                        else [("untested_series", 1)], b=beam.pvalue.AsDict(bounds)))
                   | "AllTallies" >> beam.Flatten() | "Tally" >> beam.CombinePerKey(sum))
        summarized = p | "Once" >> beam.Create([None]) | "Summary" >> beam.Map(
            _write_summary, summary_path, tallies=beam.pvalue.AsDict(tallies),
            bounds=beam.pvalue.AsDict(bounds))
        every_output(written, quarantined, summarized)
    finish_splits(examples.uri)
    with open(summary_path, encoding="utf-8") as fh:
        summary = json.load(fh)
    return _finish(summary, params, examples, quarantine, ctx)


def _write_summary(_, path, tallies, bounds):
    """``tallies``: rows per split, ``rejected`` rows, ``series`` and ``out_of_order`` rows."""
    splits = {s: tallies.get(s, 0) for s in SPLITS}
    rejected = tallies.get("rejected", 0)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"split_counts": splits, "rejected": rejected,
                   "out_of_order": tallies.get("out_of_order", 0), "series": tallies.get("series", 0),
                   "untested_series": tallies.get("untested_series", 0),
                   "rows": sum(splits.values()) + rejected,
                   "split_boundaries": bounds.get("", bounds) if bounds else None}, fh)


def split_line(summary: dict, split_by: str) -> str:
    """Which time split the series got, and (split by time) how many have no test rows."""
    n = summary["series"]
    if split_by == "series":
        return f"split per series: each of the {n} series by its own time range (data.split_by)"
    line = f"split by time: one set of boundaries for all {n} series (data.split_by: time)"
    untested = summary.get("untested_series", 0)
    if untested:
        line += (f"; warning: {untested} series have no test rows (they end before the test "
                 "period); data.split_by: series splits each series by its own time range")
    return line


def _finish(summary: dict, params: dict, examples, quarantine, ctx) -> dict:
    rows, rejected = summary["rows"], summary["rejected"]
    where = quarantine.path("quarantine.csv")
    if rows == 0:
        raise DataError(f"{params['path']}: no data rows after the header")
    fraction = cr.check_bad_fraction(params["path"], rejected, rows, params["max_bad_fraction"],
                                     where, ctx.echo)
    if summary["out_of_order"]:
        ctx.echo(f"{summary['out_of_order']} rows were out of time order; sorted by "
                 f"{params['time_column']}")
    for split in ("train", "test"):
        if summary["split_counts"][split] == 0:
            raise DataError(f"{params['path']}: the {split} split is empty; add data or change data.split")
    if summary["series"] > 1:
        ctx.echo(split_line(summary, params.get("split_by", "time")))
    examples.properties.update(
        split_names=list(SPLITS), split_counts=summary["split_counts"],
        feature_columns=list(params["feature_columns"]), series=summary["series"],
        split_boundaries=summary["split_boundaries"], source=params["path"])
    quarantine.properties.update(count=rejected, rows=rows, fraction=fraction,
                                 out_of_order=summary["out_of_order"])
    ctx.log_file(where)
    return {"rows": rows, "quarantined": rejected, **{f"{k}_rows": v for k, v in summary["split_counts"].items()}}
