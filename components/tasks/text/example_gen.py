"""Text ExampleGen: text file(s) -> line examples split by position, bad lines in quarantine.

The files (sorted by name) form one corpus; each line goes to the split of the byte position where
it starts: the first ``data.split.train`` of the bytes are train, the next ``eval`` are eval, the
rest test, so the splits are contiguous blocks of text and the test text follows the training
text. A line that is not UTF-8 is quarantined with its file, line number and reason.

Outputs
    examples: ``Split-{train,eval,test}-*.tfrecord.gz``, one ``tf.train.Example`` per line:
        ``text`` (the line with its newline), ``meta/file``, ``meta/line``, ``meta/offset`` (byte
        position in the corpus).
    quarantine: ``quarantine.csv`` (file, row = line number, reason, raw bytes).
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

import apache_beam as beam
from tensorflow.core.example import example_pb2

from seqline.components.split_io import SPLITS, WriteSplits, finish_splits
from seqline.components.tasks import csv_records as cr
from seqline.components.tasks.csv_records import Rejected
from seqline.components.tasks.text.numerics import split_of_offset
from seqline.pipeline.errors import DataError


@dataclass(frozen=True)
class TextLine:
    """One decoded line and where it came from."""

    file: str
    line: int
    offset: int          # byte position of the line's start in the whole corpus
    text: str


def read_lines(source: tuple):
    """``(path, corpus offset of the file)`` -> a TextLine per UTF-8 line, a Rejected otherwise."""
    path, base = source
    offset = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield Rejected(path, number, f"line is not UTF-8 text ({exc.reason} at byte "
                                             f"{exc.start})", repr(raw)[:200])
            else:
                yield TextLine(path, number, base + offset, text)
            offset += len(raw)


def encode_line(line: TextLine) -> bytes:
    """Serialize a line as a ``tf.train.Example``."""
    ex = example_pb2.Example()
    f = ex.features.feature
    f["text"].bytes_list.value.append(line.text.encode("utf-8"))
    f["meta/file"].bytes_list.value.append(line.file.encode())
    f["meta/line"].int64_list.value.append(line.line)
    f["meta/offset"].int64_list.value.append(line.offset)
    return ex.SerializeToString(deterministic=True)


def decode_line(data: bytes) -> TextLine:
    """Inverse of :func:`encode_line`."""
    f = example_pb2.Example.FromString(data).features.feature
    return TextLine(f["meta/file"].bytes_list.value[0].decode(), f["meta/line"].int64_list.value[0],
                    f["meta/offset"].int64_list.value[0], f["text"].bytes_list.value[0].decode("utf-8"))


class ReadText(beam.PTransform):
    """``(path, corpus offset)`` sources -> TextLines (main output) and Rejected (``rejected``)."""

    def expand(self, sources):
        def tag(item):
            if isinstance(item, Rejected):
                yield beam.pvalue.TaggedOutput("rejected", item)
            else:
                yield item

        return (sources | "Read" >> beam.FlatMap(read_lines)
                | "Tag" >> beam.FlatMap(tag).with_outputs("rejected", main="lines"))


def corpus_sources(pattern: str) -> tuple:
    """``([(path, corpus offset)], total bytes)`` of the files matching ``pattern``, by name."""
    paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    if not paths:
        raise DataError(f"data.path: no file matches {pattern}")
    sources, total = [], 0
    for path in paths:
        sources.append((path, total))
        total += os.path.getsize(path)
    if total == 0:
        raise DataError(f"{pattern}: the text is empty")
    return sources, total


def _write_summary(_, path, lines, chars, rejected):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"split_counts": {s: lines.get(s, 0) for s in SPLITS},
                   "split_chars": {s: chars.get(s, 0) for s in SPLITS}, "rejected": rejected}, fh)


def generate(params: dict, examples, quarantine, ctx) -> dict:
    """Run the Beam pipeline for the ``data`` section ``params``; return key metrics."""
    sources, total = corpus_sources(params["path"])
    os.makedirs(quarantine.uri, exist_ok=True)
    summary_path = quarantine.path("summary.json")
    with beam.Pipeline(options=ctx.beam_options()) as p:
        read = p | "Sources" >> beam.Create(sources) | "ReadText" >> ReadText()
        keyed = read.lines | "AssignSplit" >> beam.Map(
            lambda line: (split_of_offset(line.offset, total, params["split"]), line))
        (keyed | "Encode" >> beam.MapTuple(lambda split, line: (split, encode_line(line)))
         | "Write" >> WriteSplits(examples.uri))
        (read.rejected | "RejectList" >> beam.combiners.ToList()
         | "WriteQuarantine" >> beam.Map(cr.write_quarantine, quarantine.path("quarantine.csv")))
        lines = keyed | "SplitNames" >> beam.Keys() | "CountLines" >> beam.combiners.Count.PerElement()
        chars = (keyed | "Chars" >> beam.MapTuple(lambda split, line: (split, len(line.text)))
                 | "SumChars" >> beam.CombinePerKey(sum))
        n_rejected = read.rejected | "CountRejects" >> beam.combiners.Count.Globally()
        (p | "Once" >> beam.Create([None]) | "Summary" >> beam.Map(
            _write_summary, summary_path, lines=beam.pvalue.AsDict(lines),
            chars=beam.pvalue.AsDict(chars), rejected=beam.pvalue.AsSingleton(n_rejected)))
    finish_splits(examples.uri)
    with open(summary_path, encoding="utf-8") as fh:
        summary = json.load(fh)
    return _finish(summary, params, examples, quarantine, ctx)


def _finish(summary: dict, params: dict, examples, quarantine, ctx) -> dict:
    rejected = summary["rejected"]
    lines = sum(summary["split_counts"].values()) + rejected
    fraction = rejected / lines
    if rejected:
        ctx.echo(f"{rejected} of {lines} lines quarantined ({fraction:.2%}); reasons in the "
                 "quarantine artifact's quarantine.csv")
    if fraction > params["max_bad_fraction"]:
        raise DataError(f"{params['path']}: {rejected} of {lines} lines are not UTF-8 "
                        f"({fraction:.1%}), above data.max_bad_fraction={params['max_bad_fraction']}")
    for split in ("train", "test"):
        if summary["split_chars"][split] == 0:
            raise DataError(f"{params['path']}: the {split} split is empty; add text or change "
                            "data.split")
    examples.properties.update(split_names=list(SPLITS), split_counts=summary["split_counts"],
                               split_chars=summary["split_chars"], source=params["path"])
    quarantine.properties.update(count=rejected, rows=lines, fraction=fraction)
    ctx.log_file(quarantine.path("quarantine.csv"))
    return {"lines": lines, "quarantined": rejected,
            **{f"{k}_chars": v for k, v in summary["split_chars"].items()}}
