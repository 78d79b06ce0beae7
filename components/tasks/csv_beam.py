"""The Beam piece every CSV ExampleGen shares: parse rows, bad ones apart as ``rejected``."""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

from seqline.components.tasks import csv_records as cr
from seqline.pipeline import counters


def counted_rows(path: str):
    """:func:`~seqline.components.tasks.csv_records.read_rows`, counted for the progress display."""
    return counters.counted(cr.read_rows(path), "rows read")


class Parsed(NamedTuple):
    """:class:`ParseRows`' outputs."""

    records: beam.PCollection
    rejected: beam.PCollection


class ParseRows(beam.PTransform):
    """CSV paths -> parsed records (``records``) and Rejected rows (``rejected``).

    ``parse(item, spec)`` turns one ``(path, row, cells)`` item into a record or a
    :class:`~seqline.components.tasks.csv_records.Rejected`. The two outputs are two filters, not tagged
    outputs: Beam's DaskRunner sends every tagged output of a ``ParDo`` down each branch.
    """

    def __init__(self, spec, parse=cr.parse_row):
        super().__init__()
        self.spec = spec
        self.parse = parse

    def expand(self, paths):
        parsed = (paths | "Read" >> beam.FlatMap(counted_rows)
                  | "Parse" >> beam.Map(self.parse, self.spec))
        return Parsed(parsed | "Records" >> beam.Filter(lambda r: not isinstance(r, cr.Rejected)),
                      parsed | "Rejected" >> beam.Filter(lambda r: isinstance(r, cr.Rejected)))
