"""ExampleGen of the classification tasks: labeled long CSV -> one example per series
(``classify``) or per time-ordered piece of a series (``label``); bad rows in quarantine.

Outputs
    examples: ``Split-{train,eval,test}-*.tfrecord.gz`` of :mod:`sequence_codec` examples.
    quarantine: ``quarantine.csv`` (file, row, reason, raw) sorted by file and row.

Rows are grouped per series (series id within its file) with a Beam ``GroupByKey``, sorted by
the time column (or kept in row order), and checked: duplicate times, long missing runs, and
for ``classify`` a series whose rows disagree on the label or split is quarantined whole.
``classify`` splits by series (:func:`labeled_csv.assign_series_splits`), ``label`` cuts every
series by position (:func:`labeled_csv.position_segments`): train, then eval, then test, the
held-out stretch moved back from the end where that puts every label in test.
"""
from __future__ import annotations

import functools
import json
import os
from collections import Counter

import apache_beam as beam
import numpy as np

from seqline.components.split_io import SPLITS, WriteSplits, finish_splits
from seqline.components.tasks import csv_records as cr
from seqline.components.tasks.sequence import labeled_csv as lc
from seqline.components.tasks.csv_beam import ParseRows
from seqline.components.tasks.sequence.codec import Sequence, encode
from seqline.pipeline.errors import DataError


def check_group(item, feature_columns, max_missing_run: int, whole_series_label: bool):
    """``((file, series id), records)`` -> ``(key, kept records, rejected, out of order)``."""
    key, records = item
    kept, rejected, out_of_order = cr.check_series(key[1], records, feature_columns,
                                                   max_missing_run)
    if whole_series_label:
        inconsistent = lc.series_consistency(key[1], kept)
        if inconsistent:
            kept, rejected = [], rejected + inconsistent
    return key, kept, rejected, out_of_order


def _sequence(records: list, start: int = 0, end: int | None = None, per_step: bool = True):
    part = records[start:end]
    labels = [r.label for r in part] if per_step else [part[0].label]
    return Sequence(part[0].series_id, np.array([r.values for r in part], np.float64), labels,
                    start, part[0].row, os.path.basename(part[0].file))


def series_sequences(checked):
    """classify: ``(key, whole series, given split)`` of a checked series with rows left."""
    key, kept, _, _ = checked
    if kept:
        yield key, _sequence(kept, per_step=False), kept[0].split


def position_pieces(checked, fractions: dict):
    """label: ``(split, piece)`` for each time-ordered piece of a checked series."""
    _, kept, _, _ = checked
    for split, start, end in lc.position_segments([r.label for r in kept], fractions):
        yield split, _sequence(kept, start, end)


def piece_summary(piece) -> tuple:
    """``(split, steps, label counts)`` of one ``(split, Sequence)`` pair."""
    split, seq = piece
    return split, seq.length, dict(Counter(seq.labels))


def summarize(summaries: list) -> dict:
    """Sequences, steps and label counts per split from :func:`piece_summary` tuples."""
    out = {"split_counts": dict.fromkeys(SPLITS, 0), "split_steps": dict.fromkeys(SPLITS, 0)}
    counts = {s: Counter() for s in SPLITS}
    for split, steps, labels in summaries:
        out["split_counts"][split] += 1
        out["split_steps"][split] += steps
        counts[split].update(labels)
    out["class_counts"] = {s: dict(sorted(c.items())) for s, c in counts.items()}
    return out


def _write_summary(summaries, path, rejected, out_of_order, series):
    summary = summarize(summaries)
    summary.update(rejected=rejected, out_of_order=out_of_order, series=series,
                   rows=sum(summary["split_steps"].values()) + rejected)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(summary, fh)


def generate(params: dict, examples, quarantine, ctx) -> dict:
    """Run the Beam pipeline for the ``data`` section ``params`` of ``classify`` or ``label``;
    return key metrics."""
    classify = params["task"] == "classify"
    columns = tuple(params["feature_columns"])
    spec = lc.LabeledSpec(columns, params["label_column"], params["series_id_column"],
                          params["time_column"], params["time_format"],
                          params.get("split_column"))
    files = [("", params["path"])]
    if params.get("test_path"):
        files.append(("test", params["test_path"]))
    os.makedirs(quarantine.uri, exist_ok=True)
    summary_path = quarantine.path("summary.json")
    with beam.Pipeline(options=ctx.beam_options()) as p:
        records, parse_rejects = [], []
        for given, path in files:
            name = given or "data"
            parse = functools.partial(lc.parse_labeled_row, given_split=given)
            parsed = (p | f"Path-{name}" >> beam.Create([path])
                      | f"Parse-{name}" >> ParseRows(spec, parse))
            records.append(parsed.records)
            parse_rejects.append(parsed.rejected)
        checked = (records | "AllRecords" >> beam.Flatten()
                   | "BySeries" >> beam.Map(lambda r: ((os.path.basename(r.file), r.series_id), r))
                   | "Group" >> beam.GroupByKey()
                   | "Check" >> beam.Map(check_group, columns, params["max_missing_run"],
                                         classify))
        if classify:
            whole = checked | "Series" >> beam.FlatMap(series_sequences)
            split = params["split"]
            splits = (whole | "SplitInput" >> beam.Map(lambda k: (k[0], k[1].labels[0], k[2]))
                      | "AllSeries" >> beam.combiners.ToList()
                      | "AssignSplits" >> beam.Map(lc.assign_series_splits, split["eval"],
                                                   split["test"], split["seed"]))
            pieces = whole | "ApplySplits" >> beam.Map(
                lambda k, chosen: (chosen[k[0]], k[1]), beam.pvalue.AsSingleton(splits))
        else:
            pieces = checked | "Pieces" >> beam.FlatMap(position_pieces, params["split"])
        (pieces | "Encode" >> beam.MapTuple(lambda split, seq: (split, encode(seq)))
         | "Write" >> WriteSplits(examples.uri))
        rejected = (parse_rejects + [checked | "SeriesRejects" >> beam.FlatMap(lambda c: c[2])]
                    | "AllRejects" >> beam.Flatten())
        (rejected | "RejectList" >> beam.combiners.ToList()
         | "WriteQuarantine" >> beam.Map(cr.write_quarantine, quarantine.path("quarantine.csv")))
        n_rejected = rejected | "CountRejects" >> beam.combiners.Count.Globally()
        out_of_order = (checked | "OutOfOrder" >> beam.Map(lambda c: c[3])
                        | "SumOutOfOrder" >> beam.CombineGlobally(sum))
        series = checked | "CountSeries" >> beam.combiners.Count.Globally()
        (pieces | "PieceSummary" >> beam.Map(piece_summary)
         | "PieceList" >> beam.combiners.ToList() | "Summary" >> beam.Map(
            _write_summary, summary_path, rejected=beam.pvalue.AsSingleton(n_rejected),
            out_of_order=beam.pvalue.AsSingleton(out_of_order),
            series=beam.pvalue.AsSingleton(series)))
    finish_splits(examples.uri)
    with open(summary_path, encoding="utf-8") as fh:
        summary = json.load(fh)
    return _finish(summary, params, examples, quarantine, ctx)


def _finish(summary: dict, params: dict, examples, quarantine, ctx) -> dict:
    classify = params["task"] == "classify"
    where = quarantine.path("quarantine.csv")
    rows, rejected = summary["rows"], summary["rejected"]
    source = params["path"] + (f" + {params['test_path']}" if params.get("test_path") else "")
    if rows == 0:
        raise DataError(f"{source}: no data rows after the header")
    fraction = cr.check_bad_fraction(source, rejected, rows, params["max_bad_fraction"], where,
                                     ctx.echo)
    if summary["out_of_order"]:
        ctx.echo(f"{summary['out_of_order']} rows were out of time order; sorted by "
                 f"{params['time_column']}")
    counts, unit = summary["split_counts"], "series" if classify else "pieces"
    ctx.echo(", ".join(f"{counts[s]} {s}" for s in SPLITS) + f" {unit}; train labels: "
             + ", ".join(f"{k}: {v}" for k, v in summary["class_counts"]["train"].items()))
    for split in ("train", "test"):
        if counts[split] == 0:
            fix = ("set data.test_path, mark test series in data.split_column or raise "
                   "data.split.test" if classify else "change data.split")
            raise DataError(f"{params['path']}: the {split} split is empty; add data or {fix}")
    examples.properties.update(
        split_names=list(SPLITS), split_counts=counts, split_steps=summary["split_steps"],
        class_counts=summary["class_counts"], feature_columns=list(params["feature_columns"]),
        label_column=params["label_column"], series=summary["series"], source=params["path"])
    quarantine.properties.update(count=rejected, rows=rows, fraction=fraction,
                                 out_of_order=summary["out_of_order"])
    ctx.log_file(where)
    metrics = {"rows": rows, "quarantined": rejected, "series": summary["series"]}
    return {**metrics, **{f"{s}_{unit}": n for s, n in counts.items()}}
