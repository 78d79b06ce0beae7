"""The Beam pieces CSV ExampleGens share: parse rows (or batches of rows), bad ones apart as
``rejected``."""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

from seqline.components.tasks import csv_records as cr
from seqline.components.tasks import row_batches as rb
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


class ParseBatches(beam.PTransform):
    """CSV paths -> ``(series id, SeriesRows)`` batches (``records``) and Rejected rows
    (``rejected``): :class:`ParseRows` on chunks of
    :data:`~seqline.components.tasks.row_batches.CHUNK_ROWS` rows, one element per chunk and
    series (see :mod:`seqline.components.tasks.row_batches`)."""

    def __init__(self, spec: cr.RowSpec):
        super().__init__()
        self.spec = spec

    def expand(self, paths):
        parsed = (paths | "Read" >> beam.FlatMap(rb.read_chunks)
                  | "Parse" >> beam.Map(rb.parse_chunk, self.spec))
        return Parsed(parsed | "Records" >> beam.FlatMap(
                          lambda p: [(rows.series_id, rows) for rows in p[0]]),
                      parsed | "Rejected" >> beam.FlatMap(lambda p: p[1]))
