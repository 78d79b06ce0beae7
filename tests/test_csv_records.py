"""The pure row functions of ExampleGen: parsing, per-series checks and time splits."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from seqline.components.tasks import csv_records as cr
from seqline.components.tasks.csv_records import Record, Rejected, RowSpec

SPEC = RowSpec("Date", ("Close", "Volume"))
US = 10**6                    # Record.timestamp counts microseconds since 1970-01-01 UTC
NOV_10_2017 = 1510272000 * US
DAY = 86400
T0 = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())


def item(date="2017-11-10", close="84.5", volume="1000", row=7, path="f.csv"):
    return path, row, {"Date": date, "Open": "1", "Close": close, "Volume": volume}


def day(n: int) -> int:
    return T0 + n * DAY


def rec(row, n_day, values=(1.0,), series="s1", file="f.csv"):
    stamp = day(n_day)
    text = datetime.fromtimestamp(stamp, timezone.utc).date().isoformat()
    return Record(series, stamp, text, row, tuple(values), file)


# --- parse_row -----------------------------------------------------------------------------------

def test_parse_good_row():
    got = cr.parse_row(item(), SPEC)
    assert got == Record("", NOV_10_2017, "2017-11-10", 7, (84.5, 1000.0), "f.csv")


def test_parse_keeps_series_id_and_time_zone():
    spec = RowSpec("Date", ("Close",), series_id_column="Ticker")
    path, row, cells = item(date=" 2017-11-10T00:00:00+01:00 ")
    cells["Ticker"] = " MSFT "
    got = cr.parse_row((path, row, cells), spec)
    assert got.series_id == "MSFT"
    assert got.timestamp == NOV_10_2017 - 3600 * US
    assert got.values == (84.5,)


def test_parse_with_time_format():
    spec = RowSpec("Date", ("Close",), time_format="%d/%m/%Y")
    assert cr.parse_row(item(date="10/11/2017"), spec).timestamp == NOV_10_2017
    bad = cr.parse_row(item(date="2017-11-10"), spec)
    assert bad.reason == "column 'Date': bad date '2017-11-10' (expected %d/%m/%Y)"


@pytest.mark.parametrize("text", ["12.3.4", "abc", "1,000", "inf", "-Infinity", "0x10"])
def test_parse_bad_number_is_rejected_with_column(text):
    got = cr.parse_row(item(volume=text, row=12), SPEC)
    assert isinstance(got, Rejected)
    assert (got.file, got.row) == ("f.csv", 12)
    assert got.reason == f"column 'Volume': {text!r} is not a number"
    assert got.raw == f"2017-11-10,1,84.5,{text}"


@pytest.mark.parametrize("text", ["1986-02-30", "2017/11/10", "yesterday", ""])
def test_parse_bad_date_is_rejected(text):
    got = cr.parse_row(item(date=text, row=3), SPEC)
    assert isinstance(got, Rejected)
    assert got.row == 3
    assert got.reason == (f"column 'Date': bad date {text!r} "
                          "(expected ISO 8601, e.g. 2017-11-10)")


@pytest.mark.parametrize("text", ["", "  ", "NA", "nan", "NaN", "null", "None", " N/A "])
def test_missing_values_become_nan_not_rejected(text):
    got = cr.parse_row(item(close=text), SPEC)
    assert isinstance(got, Record)
    assert math.isnan(got.values[0])
    assert got.values[1] == 1000.0


def test_wrong_field_count_is_rejected(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("Date,Close,Volume\n"
                    "2020-01-01,1.5,10\n"
                    "\n"                          # blank line: skipped, still counted
                    "2020-01-02,1.6\n"            # row 4: too few fields
                    "2020-01-03,1.7,11,extra\n"   # row 5: too many
                    "2020-01-04,1.8,12\n", encoding="utf-8")
    parsed = [cr.parse_row(i, SPEC) for i in cr.read_rows(str(path))]
    assert [p.row for p in parsed] == [2, 4, 5, 6]
    assert isinstance(parsed[0], Record) and parsed[0].values == (1.5, 10.0)
    assert parsed[1] == Rejected(str(path), 4, "has 2 fields, header has 3", "2020-01-02,1.6")
    assert parsed[2] == Rejected(str(path), 5, "has 4 fields, header has 3",
                                 "2020-01-03,1.7,11,extra")
    assert isinstance(parsed[3], Record) and parsed[3].row == 6


# --- check_series --------------------------------------------------------------------------------

def test_check_series_sorts_by_time_and_counts_out_of_order():
    # file order (by row) has days 0, 3, 1, 2, 5, 4: two descents
    records = [rec(2, 0), rec(3, 3), rec(4, 1), rec(5, 2), rec(6, 5), rec(7, 4)]
    kept, rejected, out_of_order = cr.check_series("s1", list(reversed(records)), ("Close",), 5)
    assert [r.timestamp for r in kept] == [day(n) for n in (0, 1, 2, 3, 4, 5)]
    assert [r.row for r in kept] == [2, 4, 5, 3, 7, 6]
    assert rejected == []
    assert out_of_order == 2


def test_check_series_sorted_input_has_no_out_of_order():
    kept, rejected, out_of_order = cr.check_series("s1", [rec(i + 2, i) for i in range(5)],
                                                   ("Close",), 5)
    assert len(kept) == 5 and rejected == [] and out_of_order == 0


def test_duplicate_timestamp_rejected_naming_first_row():
    records = [rec(9, 1, (5.0,)), rec(2, 0), rec(4, 1, (3.0,)), rec(5, 2)]
    kept, rejected, _ = cr.check_series("s1", records, ("Close",), 5)
    assert [r.row for r in kept] == [2, 4, 5]
    assert kept[1].values == (3.0,)          # the first occurrence in the file wins
    assert len(rejected) == 1
    bad = rejected[0]
    assert (bad.file, bad.row) == ("f.csv", 9)
    assert bad.reason == "duplicate timestamp 2020-01-02 in series 's1' (first at row 4)"
    assert bad.raw == "s1,2020-01-02,5.0"


def test_missing_run_longer_than_limit_rejected_with_column():
    nan = math.nan
    close = [1, 2, nan, nan, 5, 6, 7, 8, 9, 10, 11, 12]          # run of 2: kept
    volume = [1, 2, 3, 4, 5, nan, nan, nan, 9, 10, 11, 12]      # run of 3: rejected
    records = [rec(i + 2, i, (c, v)) for i, (c, v) in enumerate(zip(close, volume))]
    kept, rejected, _ = cr.check_series("s1", records, ("Close", "Volume"), 2)
    assert [r.row for r in rejected] == [7, 8, 9]
    assert {r.reason for r in rejected} == {
        "column 'Volume' missing for 3 consecutive rows (limit data.max_missing_run=2)"}
    assert [r.row for r in kept] == [2, 3, 4, 5, 6, 10, 11, 12, 13]
    assert math.isnan(kept[2].values[0]) and math.isnan(kept[3].values[0])


def test_missing_run_at_end_and_exactly_at_limit():
    nan = math.nan
    values = [1, nan, nan, 4, 5, nan, nan, nan]   # run of 2 (== limit) kept; trailing 3 rejected
    records = [rec(i + 2, i, (v,)) for i, v in enumerate(values)]
    kept, rejected, _ = cr.check_series("s1", records, ("Close",), 2)
    assert [r.row for r in kept] == [2, 3, 4, 5, 6]
    assert [r.row for r in rejected] == [7, 8, 9]
    assert rejected[0].reason == ("column 'Close' missing for 3 consecutive rows "
                                  "(limit data.max_missing_run=2)")
    assert rejected[0].raw == "s1,2020-01-06,"


def test_missing_run_is_measured_in_time_order_not_file_order():
    nan = math.nan
    # days 3, 4, 5 are missing; in the file they are far apart
    order = [3, 0, 1, 4, 2, 6, 5, 7]
    records = [rec(row + 2, d, (nan if d in (3, 4, 5) else float(d),)) for row, d in enumerate(order)]
    kept, rejected, _ = cr.check_series("s1", records, ("Close",), 2)
    assert sorted(r.row for r in rejected) == [2, 5, 8]
    assert [r.timestamp for r in kept] == [day(n) for n in (0, 1, 2, 6, 7)]


def test_max_missing_run_zero_rejects_every_missing_value():
    records = [rec(2, 0, (1.0,)), rec(3, 1, (math.nan,)), rec(4, 2, (3.0,))]
    kept, rejected, _ = cr.check_series("s1", records, ("Close",), 0)
    assert [r.row for r in kept] == [2, 4]
    assert [(r.row, r.reason) for r in rejected] == [
        (3, "column 'Close' missing for 1 consecutive rows (limit data.max_missing_run=0)")]


# --- split_boundaries / split_of -----------------------------------------------------------------

def split_counts(stamps, fractions):
    bounds = cr.split_boundaries(stamps, fractions)
    splits = {"train": [], "eval": [], "test": []}
    for s in stamps:
        splits[cr.split_of(s, bounds)].append(s)
    return splits


def assert_time_ordered(splits):
    if splits["eval"]:
        assert max(splits["train"]) < min(splits["eval"])
        if splits["test"]:
            assert max(splits["eval"]) < min(splits["test"])
    if splits["test"]:
        assert max(splits["train"]) < min(splits["test"])


@pytest.mark.parametrize("n, fractions, expected", [
    (100, {"train": 0.7, "eval": 0.2, "test": 0.1}, (70, 20, 10)),
    (1000, {"train": 0.8, "eval": 0.1, "test": 0.1}, (800, 100, 100)),
    (10, {"train": 0.5, "eval": 0.0, "test": 0.5}, (5, 0, 5)),
    (2, {"train": 0.8, "eval": 0.1, "test": 0.1}, (1, 0, 1)),
    (1, {"train": 0.8, "eval": 0.1, "test": 0.1}, (1, 0, 0)),
])
def test_fractions_honoured(n, fractions, expected):
    stamps = [day(i) for i in range(n)]
    splits = split_counts(stamps[::-1], fractions)      # input order does not matter
    assert tuple(len(splits[s]) for s in ("train", "eval", "test")) == expected
    assert_time_ordered(splits)


@pytest.mark.parametrize("fractions", [
    {"train": 0.8, "eval": 0.1, "test": 0.1},
    {"train": 0.6, "eval": 0.2, "test": 0.2},
    {"train": 0.34, "eval": 0.33, "test": 0.33},
    {"train": 0.1, "eval": 0.1, "test": 0.8},
])
def test_split_invariants_for_many_sizes(fractions):
    for n in range(2, 120):
        splits = split_counts([day(i) for i in range(n)], fractions)
        counts = {s: len(v) for s, v in splits.items()}
        assert sum(counts.values()) == n
        assert counts["train"] >= 1 and counts["test"] >= 1, (n, counts)
        assert abs(counts["train"] - n * fractions["train"]) <= 1, (n, counts)
        assert abs(counts["eval"] - n * fractions["eval"]) <= 1, (n, counts)
        assert_time_ordered(splits)


def test_shared_timestamps_of_several_series_stay_in_one_split():
    stamps = [day(i) for i in range(20)] * 3 + [day(i) for i in range(5, 15)]
    bounds = cr.split_boundaries(stamps, {"train": 0.5, "eval": 0.25, "test": 0.25})
    by_split = {}
    for s in stamps:
        by_split.setdefault(cr.split_of(s, bounds), set()).add(s)
    assert [len(by_split[s]) for s in ("train", "eval", "test")] == [10, 5, 5]
    assert max(by_split["train"]) < min(by_split["eval"])
    assert max(by_split["eval"]) < min(by_split["test"])


def test_split_boundaries_of_no_rows_does_not_fail():
    assert cr.split_boundaries([], {"train": 0.8, "eval": 0.1, "test": 0.1}) == (0, 0)


@pytest.mark.parametrize("text,words", [("1e308", "1e308 is outside the float32 range"),
                                        ("-4e38", "-4e38 is outside the float32 range"),
                                        ("1e-320", "1e-320 is too small for float32")])
def test_numbers_float32_cannot_hold_are_rejected_with_the_reason(text, words):
    got = cr.parse_row(item(volume=text, row=5), SPEC)
    assert isinstance(got, Rejected) and got.reason.startswith(f"column 'Volume': {words}")
    assert cr.parse_row(item(volume="3.4e38"), SPEC).values[1] == 3.4e38
    assert cr.parse_row(item(volume="0.0"), SPEC).values[1] == 0.0


def test_a_field_over_the_csv_limit_is_an_error_row_and_the_next_rows_still_arrive(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("Date,Close\n2020-01-01,1\n2020-01-02," + "9" * 140_000 + "\n2020-01-03,3\n",
                    encoding="utf-8")
    rows = list(cr.read_rows(str(path)))
    assert [(n, c.get("Close")) for _, n, c in rows] == [(2, "1"), (3, None), (4, "3")]
    error = rows[1][2]
    assert error["__error__"].startswith("unreadable CSV row (field larger than field limit")
    assert error["__raw__"].endswith("... (140,011 characters)")
