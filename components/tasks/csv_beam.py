"""The Beam piece every CSV ExampleGen shares: parse rows, bad ones tagged ``rejected``."""
from __future__ import annotations

import apache_beam as beam

from components.tasks import csv_records as cr
from pipeline import counters


def counted_rows(path: str):
    """:func:`~components.tasks.csv_records.read_rows`, counted for the progress display."""
    return counters.counted(cr.read_rows(path), "rows read")


class ParseRows(beam.PTransform):
    """CSV paths -> parsed records (main output) and Rejected rows (output ``rejected``).

    ``parse(item, spec)`` turns one ``(path, row, cells)`` item into a record or a
    :class:`~components.tasks.csv_records.Rejected`.
    """

    def __init__(self, spec, parse=cr.parse_row):
        super().__init__()
        self.spec = spec
        self.parse = parse

    def expand(self, paths):
        def tag(item):
            parsed = self.parse(item, self.spec)
            if isinstance(parsed, cr.Rejected):
                yield beam.pvalue.TaggedOutput("rejected", parsed)
            else:
                yield parsed

        return (paths | "Read" >> beam.FlatMap(counted_rows)
                | "Parse" >> beam.FlatMap(tag).with_outputs("rejected", main="records"))
