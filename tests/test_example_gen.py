"""ExampleGen: Beam transforms, the executor on real MSFT rows, and every kind of bad input.

Every bad-input test checks that nothing was lost: each data row of the CSV is either in exactly
one output split or in quarantine.csv with its row number and reason.
"""
from __future__ import annotations

import csv
import glob
import math
import os
import random

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from seqline.components.tasks import csv_records as cr
from seqline.components import example_gen
from seqline.components.split_io import SPLITS, split_pattern
from seqline.components.tasks import csv_beam
from seqline.components.tasks import row_batches as rb
from seqline.components.tasks.forecast import example_gen as timeseries_gen
from seqline.components.tasks.forecast.codec import decode
from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.component import Context
from seqline.pipeline.config import load_config, validate_config
from seqline.pipeline.errors import ConfigError, DataError
from tests.sequence_fixtures import write_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSFT = os.path.join(ROOT, "examples", "stock_forecast", "data", "msft_daily.csv")
N_ROWS = 300
COLUMNS = ["Volume", "Close"]   # data.feature_columns after validation (target last)


# --- helpers -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def msft():
    """Header and the first N_ROWS data rows of the real MSFT CSV, as lists of cells."""
    with open(MSFT, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [list(r) for r in rows[1:N_ROWS + 1]]


def config(folder, csv_name="data.csv", **data) -> dict:
    raw = {"name": "gen_test", "pipeline_root": "pipeline",
           "data": {"path": csv_name, "time_column": "Date", "feature_columns": ["Volume"],
                    "target_column": "Close", **data}}
    return validate_config(raw, base_dir=str(folder))


class Run:
    """The result of calling the executor directly."""

    def __init__(self, folder, cfg):
        self.cfg = cfg
        self.echoed = []
        self.outputs = {"examples": Artifact("Examples", str(folder / "out" / "examples")),
                        "quarantine": Artifact("Quarantine", str(folder / "out" / "quarantine"))}
        self.metrics = None
        self.error = None
        try:
            self.metrics = example_gen.execute({}, self.outputs, example_gen.parameters(cfg),
                                               Context(echo=self.echoed.append))
        except DataError as exc:
            self.error = exc

    @property
    def examples(self):
        return self.outputs["examples"]

    @property
    def quarantine(self):
        return self.outputs["quarantine"]

    def splits(self) -> dict:
        """Split name -> decoded Records."""
        out = {}
        for split in SPLITS:
            files = sorted(glob.glob(split_pattern(self.examples.uri, split)))
            data = tf.data.TFRecordDataset(files, compression_type="GZIP") if files else []
            out[split] = [decode(x.numpy(), COLUMNS) for x in data]
        return out

    def quarantined(self) -> list:
        with open(self.quarantine.path("quarantine.csv"), newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def assert_nothing_lost(self, n_rows=N_ROWS):
        in_splits = [r.row for records in self.splits().values() for r in records]
        quarantined = [int(r["row"]) for r in self.quarantined()]
        assert all(r["reason"] and r["file"] == "data.csv" for r in self.quarantined())
        assert len(in_splits) == len(set(in_splits)), "a row is in two splits"
        assert not set(in_splits) & set(quarantined), "a row is both kept and quarantined"
        assert sorted(in_splits + quarantined) == list(range(2, n_rows + 2))


def run(folder, header, rows, **data) -> Run:
    write_csv(folder / "data.csv", header, rows)
    return Run(folder, config(folder, **data))


def times(records) -> list:
    return [r.timestamp for r in records]


def assert_time_order(splits):
    assert max(times(splits["train"])) < min(times(splits["eval"]))
    assert max(times(splits["eval"])) < min(times(splits["test"]))


# --- (a) Beam transforms -------------------------------------------------------------------------

def test_parse_rows_transform_splits_records_and_rejects(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["Date", "Close", "Volume"], [
        ["2020-01-01", "1.5", "10"], ["2020-01-02", "oops", "11"], ["2020-01-03", "1.7", ""],
        ["2020-13-01", "1.8", "12"], ["2020-01-05", "1.9"]])
    spec = cr.RowSpec("Date", ("Close", "Volume"))
    with TestPipeline() as p:
        parsed = p | beam.Create([path]) | csv_beam.ParseRows(spec)
        assert_that(parsed.records | "Rows" >> beam.Map(lambda r: (r.row, r.time, r.values[0])),
                    equal_to([(2, "2020-01-01", 1.5), (4, "2020-01-03", 1.7)]), label="records")
        assert_that(parsed.rejected | "Why" >> beam.Map(lambda r: (r.row, r.reason)),
                    equal_to([(3, "column 'Close': 'oops' is not a number"),
                              (5, "column 'Date': bad date '2020-13-01' "
                                  "(expected ISO 8601, e.g. 2017-11-10)"),
                              (6, "has 2 fields, header has 3")]), label="rejected")


def test_parse_batches_transform_gives_series_batches_and_rejects(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["Date", "Id", "Close"], [
        ["2020-01-01", "A", "1.5"], ["2020-01-02", "B", "oops"], ["2020-01-03", "B", "1.7"],
        ["2020-01-04", "A", "1.8"]])
    spec = cr.RowSpec("Date", ("Close",), "Id")
    with TestPipeline() as p:
        parsed = p | beam.Create([path]) | csv_beam.ParseBatches(spec)
        assert_that(parsed.records | "Rows" >> beam.MapTuple(
                        lambda series, rows: (series, rows.rows.tolist(), rows.values[:, 0].tolist())),
                    equal_to([("A", [2, 5], [1.5, 1.8]), ("B", [4], [1.7])]), label="records")
        assert_that(parsed.rejected | "Why" >> beam.Map(lambda r: (r.row, r.reason)),
                    equal_to([(3, "column 'Close': 'oops' is not a number")]), label="rejected")


def test_check_series_transform_per_series(tmp_path):
    def r(series, rows, days, values=None):
        values = values or [1.0] * len(rows)
        return series, rb.SeriesRows(series, ("f.csv",), np.zeros(len(rows), np.int64),
                                     np.array(rows), np.array([1577836800 + d * 86400 for d in days]),
                                     np.array([f"2020-01-{d + 1:02d}" for d in days]),
                                     np.array(values).reshape(-1, 1))

    batches = [r("A", [2, 3], [1, 0]), r("A", [4], [1], [9.0]), r("B", [5, 6], [0, 1])]
    with TestPipeline() as p:
        checked = (p | beam.Create(batches) | timeseries_gen.CheckSeries(("Close",), 5, str(tmp_path))
                   | beam.Map(lambda c: (c[0].series_id, c[0].rows.tolist(),
                                         [(x.row, x.reason) for x in c[1]], c[2])))
        assert_that(checked, equal_to([
            ("A", [3, 2], [(4, "duplicate timestamp 2020-01-02 in series 'A' (first at row 2)")], 1),
            ("B", [5, 6], [], 0),
        ]))


# --- (b) the executor on real data ---------------------------------------------------------------

@pytest.fixture(scope="module")
def clean(msft, tmp_path_factory):
    header, rows = msft
    return run(tmp_path_factory.mktemp("clean"), header, rows)


def test_clean_run_metrics_and_split_counts(clean):
    assert clean.error is None
    assert clean.metrics == {"rows": 300, "quarantined": 0, "train_rows": 240, "eval_rows": 30,
                             "test_rows": 30}
    splits = clean.splits()
    assert {s: len(v) for s, v in splits.items()} == {"train": 240, "eval": 30, "test": 30}
    clean.assert_nothing_lost()
    assert clean.quarantined() == []
    assert clean.echoed == []


def test_clean_run_keeps_time_order_across_splits(clean, msft):
    splits = clean.splits()
    assert_time_order(splits)
    # the first 240 dates of the file are train, the last 30 are test
    dates = [r[0] for r in msft[1]]
    assert sorted(r.time for r in splits["train"]) == dates[:240]
    assert sorted(r.time for r in splits["test"]) == dates[270:]


def test_clean_run_values_survive_encoding(clean, msft):
    by_row = {r.row: r for records in clean.splits().values() for r in records}
    header, rows = msft
    close, volume = header.index("Close"), header.index("Volume")
    for row in (2, 100, 301):
        cells = rows[row - 2]
        assert by_row[row].time == cells[0]
        assert by_row[row].values[0] == pytest.approx(float(cells[volume]), rel=1e-6)
        assert by_row[row].values[1] == pytest.approx(float(cells[close]), rel=1e-6)
        assert by_row[row].file.endswith("data.csv")


def test_clean_run_properties(clean):
    props = clean.examples.properties
    splits = clean.splits()
    assert props["split_names"] == ["train", "eval", "test"]
    assert props["split_counts"] == {"train": 240, "eval": 30, "test": 30}
    assert props["feature_columns"] == ["Volume", "Close"]
    assert props["series"] == 1
    assert props["split_boundaries"] == [min(times(splits["eval"])), min(times(splits["test"]))]
    assert props["source"] == clean.cfg["data"]["path"]
    assert clean.quarantine.properties == {"count": 0, "rows": 300, "fraction": 0.0,
                                           "out_of_order": 0}


# --- (c) bad inputs ------------------------------------------------------------------------------

def set_cell(rows, row_number, column, value, header):
    rows[row_number - 2][header.index(column)] = value


def test_malformed_number_row_is_quarantined(msft, tmp_path):
    header, rows = msft
    rows = [list(r) for r in rows]
    set_cell(rows, 12, "Close", "12.3.4", header)
    result = run(tmp_path, header, rows)
    assert result.error is None
    assert result.metrics["quarantined"] == 1 and result.metrics["rows"] == 300
    (bad,) = result.quarantined()
    assert bad["row"] == "12"
    assert bad["reason"] == "column 'Close': '12.3.4' is not a number"
    assert "12.3.4" in bad["raw"]
    assert result.quarantine.properties["count"] == 1
    assert result.echoed[0].startswith("1 of 300 rows quarantined (0.33%)")
    result.assert_nothing_lost()


def test_bad_date_row_is_quarantined(msft, tmp_path):
    header, rows = msft
    rows = [list(r) for r in rows]
    set_cell(rows, 40, "Date", "1986-02-30", header)
    result = run(tmp_path, header, rows)
    assert result.error is None
    (bad,) = result.quarantined()
    assert bad["row"] == "40"
    assert bad["reason"] == ("column 'Date': bad date '1986-02-30' "
                             "(expected ISO 8601, e.g. 2017-11-10)")
    result.assert_nothing_lost()


def test_duplicate_timestamp_is_quarantined(msft, tmp_path):
    header, rows = msft
    rows = [list(r) for r in rows]
    date = rows[50 - 2][0]
    set_cell(rows, 51, "Date", date, header)
    result = run(tmp_path, header, rows)
    assert result.error is None
    (bad,) = result.quarantined()
    assert bad["row"] == "51"
    assert bad["reason"] == f"duplicate timestamp {date} in series '' (first at row 50)"
    kept = [r for records in result.splits().values() for r in records if r.time == date]
    assert [r.row for r in kept] == [50]
    result.assert_nothing_lost()


def test_long_missing_run_is_quarantined_short_run_kept(msft, tmp_path):
    header, rows = msft
    rows = [list(r) for r in rows]
    for row in range(100, 107):                       # 7 missing Volume values: over the limit
        set_cell(rows, row, "Volume", "", header)
    for row in range(200, 203):                       # 3 missing Close values: kept as NaN
        set_cell(rows, row, "Close", "NA", header)
    result = run(tmp_path, header, rows, max_missing_run=5, max_bad_fraction=0.05)
    assert result.error is None
    bad = result.quarantined()
    assert [int(r["row"]) for r in bad] == list(range(100, 107))
    assert {r["reason"] for r in bad} == {
        "column 'Volume' missing for 7 consecutive rows (limit data.max_missing_run=5)"}
    by_row = {r.row: r for records in result.splits().values() for r in records}
    assert all(math.isnan(by_row[row].values[1]) for row in range(200, 203))
    assert not math.isnan(by_row[203].values[1])
    result.assert_nothing_lost()


def test_shuffled_dates_are_sorted_and_counted(msft, clean, tmp_path):
    header, rows = msft
    rows = [list(r) for r in rows]
    random.Random(7).shuffle(rows)
    descents = sum(1 for a, b in zip(rows, rows[1:]) if b[0] < a[0])
    result = run(tmp_path, header, rows)
    assert result.error is None
    assert result.quarantined() == []
    assert result.quarantine.properties["out_of_order"] == descents > 100
    assert result.echoed == [f"{descents} rows were out of time order; sorted by Date"]
    result.assert_nothing_lost()
    # every date lands in the same split as in the sorted file
    clean_split = {r.time: s for s, records in clean.splits().items() for r in records}
    got_split = {r.time: s for s, records in result.splits().items() for r in records}
    assert got_split == clean_split
    assert_time_order(result.splits())


def test_csv_with_utf8_bom_reads_like_without(msft, tmp_path):
    header, rows = msft
    path = write_csv(tmp_path / "data.csv", header, rows)
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(b"\xef\xbb\xbf" + data)
    result = Run(tmp_path, config(tmp_path))
    assert result.error is None
    assert result.metrics == {"rows": 300, "quarantined": 0, "train_rows": 240, "eval_rows": 30,
                              "test_rows": 30}
    result.assert_nothing_lost()


def test_header_only_file_is_a_data_error(msft, tmp_path):
    result = run(tmp_path, msft[0], [])
    assert result.error is not None
    assert str(result.error) == f"{tmp_path / 'data.csv'}: no data rows after the header"


def test_zero_byte_file_is_a_config_error(tmp_path):
    (tmp_path / "data.csv").write_bytes(b"")
    raw = {"name": "gen_test", "data": {"path": "data.csv", "time_column": "Date",
                                        "feature_columns": ["Close"], "target_column": "Close"}}
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "pipeline.yaml"))
    assert str(info.value) == f"data.path: {tmp_path / 'data.csv'} is empty (no header row)"


BAD_ROWS = (12, 30, 31, 77, 150, 151, 152, 200, 260, 299)


def with_bad_numbers(msft):
    header, rows = msft
    rows = [list(r) for r in rows]
    for i, row in enumerate(BAD_ROWS):
        # cell text that also looks like console markup must reach the user unchanged
        value = {0: "[/]", 1: "[missing]"}.get(i, f"{row}..5")
        set_cell(rows, row, "Volume", value, header)
    return header, rows


def test_too_many_bad_rows_is_a_data_error(msft, tmp_path):
    result = run(tmp_path, *with_bad_numbers(msft))
    assert result.error is not None
    message = str(result.error)
    assert message.startswith(f"{tmp_path / 'data.csv'}: 10 of 300 rows are bad (3.3%), above "
                              "data.max_bad_fraction=0.01 — ")
    assert message.endswith("row 12: column 'Volume': '[/]' is not a number; "
                            "row 30: column 'Volume': '[missing]' is not a number; "
                            "row 31: column 'Volume': '31..5' is not a number")
    assert [int(r["row"]) for r in result.quarantined()] == list(BAD_ROWS)
    result.assert_nothing_lost()


def test_too_many_bad_rows_in_runner_keeps_failed_outputs(msft, tmp_path, monkeypatch, capsys):
    from seqline.pipeline.runner import latest_execution, run_pipeline

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "data.csv", *with_bad_numbers(msft))
    cfg = config(tmp_path)
    with pytest.raises(DataError) as info:
        run_pipeline(cfg, until="ExampleGen")
    message = str(info.value)
    assert "10 of 300 rows are bad (3.3%), above data.max_bad_fraction=0.01" in message
    stage_dir = tmp_path / "pipeline" / "ExampleGen"
    failed = sorted(stage_dir.glob("failed-1-*"))
    assert len(failed) == 1
    assert message.endswith(f"(partial outputs kept for inspection in "
                            f"{os.path.relpath(failed[0])})")
    assert sorted(os.listdir(stage_dir)) == [failed[0].name]   # no complete execution, no tmp
    assert latest_execution(cfg["pipeline_root"], "ExampleGen") is None
    with open(failed[0] / "quarantine" / "quarantine.csv", newline="", encoding="utf-8") as fh:
        kept = list(csv.DictReader(fh))
    assert [int(r["row"]) for r in kept] == list(BAD_ROWS)
    assert kept[1]["reason"] == "column 'Volume': '[missing]' is not a number"
    shown = capsys.readouterr().out
    assert "ExampleGen failed after" in shown
    assert "row 30: column 'Volume': '[missing]' is not a number" in " ".join(shown.split())


def test_a_data_file_that_is_not_utf8_is_named_with_its_row(tmp_path):
    from seqline.components.tasks.csv_records import read_rows
    from seqline.pipeline.errors import DataError

    path = tmp_path / "latin1.csv"
    path.write_bytes("Date,Close\n2020-01-01,1.0\n2020-01-02,2.0\n".encode() + "2020-01-03,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: line 4 is not UTF-8 text"):
        list(read_rows(str(path)))


# --- series with different spans -------------------------------------------------------------------

def test_series_of_different_spans_are_split_by_time_or_each_by_its_own_range(msft, tmp_path):
    """Two series, the second ending halfway: split by time it has no test rows (and the run says
    so); split per series it is tested on its own last rows."""
    header, rows = msft
    long = [["long", *r] for r in rows]
    short = [["short", *r] for r in rows[:N_ROWS // 2]]
    header = ["ticker", *header]
    for folder in ("time", "series"):
        (tmp_path / folder).mkdir()
    by_time = run(tmp_path / "time", header, long + short, series_id_column="ticker")
    line = next(l for l in by_time.echoed if l.startswith("split by time"))
    assert "all 2 series" in line and "1 series have no test rows" in line
    assert {r.series_id for r in by_time.splits()["test"]} == {"long"}
    by_series = run(tmp_path / "series", header, long + short, series_id_column="ticker",
                    split_by="series")
    assert any(l.startswith("split per series: each of the 2 series") for l in by_series.echoed)
    splits = by_series.splits()
    for name in ("long", "short"):
        own = {s: [r for r in records if r.series_id == name] for s, records in splits.items()}
        assert_time_order(own)
        assert len(own["test"]) == pytest.approx(0.1 * len(sum(own.values(), [])), abs=1)
    by_series.assert_nothing_lost(len(long) + len(short))
    with pytest.raises(ConfigError, match="^data.split_by: series needs data.series_id_column"):
        config(tmp_path / "series", split_by="series")


def test_a_bad_byte_mid_file_stops_the_cli_with_one_line_and_no_traceback(msft, tmp_path):
    import subprocess
    import sys

    header, rows = msft
    write_csv(tmp_path / "data.csv", header, rows)
    with open(tmp_path / "data.csv", "ab") as fh:
        fh.write(b"2017-12-01,84,85,83,\xff84,1000,0\n")
    cfg = {"name": "bad_byte", "data": {"path": "data.csv", "time_column": "Date",
                                        "feature_columns": ["Close"], "target_column": "Close"},
           "evaluation": {"seasonal_period": 1}}   # not inferred: the config check reads no row
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=ROOT, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/m.db")
    done = subprocess.run([sys.executable, "-m", "seqline", "run", "p.yaml", "--until",
                           "ExampleGen"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 3
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"seqline: error: {tmp_path / 'data.csv'}: line {N_ROWS + 2} is not UTF-8 text")
