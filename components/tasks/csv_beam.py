"""Beam pieces every CSV ExampleGen shares: parse rows (bad ones tagged ``rejected``), write the
quarantine file, and stop a run whose share of bad rows is above the configured limit."""
from __future__ import annotations

import csv
import os

import apache_beam as beam

from components.tasks import csv_records as cr
from pipeline.errors import DataError


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

        return (paths | "Read" >> beam.FlatMap(cr.read_rows)
                | "Parse" >> beam.FlatMap(tag).with_outputs("rejected", main="records"))


def write_quarantine(rejected: list, path: str) -> None:
    """``quarantine.csv``: file, row, reason and raw text of every rejected row, in file order."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "reason", "raw"])
        for r in sorted(rejected, key=lambda r: (r.file, r.row)):
            writer.writerow([os.path.basename(r.file), r.row, r.reason, r.raw])


def check_bad_fraction(rows: int, rejected: int, limit: float, source: str, quarantine_csv: str,
                       echo) -> float:
    """Echo how many rows were quarantined; raise a DataError (with the first reasons) above
    ``data.max_bad_fraction``. Returns the fraction."""
    if rows == 0:
        raise DataError(f"{source}: no data rows after the header")
    fraction = rejected / rows
    if rejected:
        echo(f"{rejected} of {rows} rows quarantined ({fraction:.2%}); reasons in the "
             "quarantine artifact's quarantine.csv")
    if fraction > limit:
        with open(quarantine_csv, encoding="utf-8") as fh:
            first = list(csv.DictReader(fh))[:3]
        sample = "; ".join(f"row {r['row']}: {r['reason']}" for r in first)
        raise DataError(f"{source}: {rejected} of {rows} rows are bad ({fraction:.1%}), above "
                        f"data.max_bad_fraction={limit} — {sample}")
    return fraction
