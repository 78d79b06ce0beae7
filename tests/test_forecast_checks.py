"""The Transform's data warnings: test targets beyond the train range, gaps and irregular steps."""
import datetime as dt

import numpy as np
from hypothesis import given, settings, strategies as st

from seqline.components.tasks.forecast.checks import series_facts, warnings
from seqline.components.tasks.forecast.transform import Series
from tests.forecast_fixtures import MSFT

START = dt.datetime(2020, 1, 6, tzinfo=dt.timezone.utc)     # a Monday


def series(values, steps_h=None, splits=None, name="s"):
    """A :class:`Series` with hourly steps (or ``steps_h``) and a 70/30 split."""
    steps_h = steps_h or [1] * (len(values) - 1)
    hours = np.concatenate([[0], np.cumsum(steps_h)])
    splits = splits or ["train" if i < 0.7 * len(values) else "test" for i in range(len(values))]
    whens = [START + dt.timedelta(hours=float(h)) for h in hours]
    return Series(name, [w.isoformat() for w in whens],
                  np.array([int(w.timestamp() * 1e6) for w in whens]),
                  np.array(values, dtype=np.float64).reshape(-1, 1), splits)


def test_a_rising_series_is_warned_about_with_both_ranges():
    facts = [series_facts(series(np.arange(100.0)), 0)]
    [line] = warnings(facts, "y")
    assert "outside the train range" in line and "train 0..69" in line and "test 70..99" in line


def test_a_stationary_series_with_regular_steps_gets_no_warning():
    values = np.sin(np.arange(200) * 2 * np.pi / 24)
    assert warnings([series_facts(series(values), 0)], "y") == []


def test_a_gap_and_a_short_step_are_counted_with_the_largest_gap():
    steps = [1] * 50 + [5] + [1] * 20 + [0.25] + [1] * 27
    [line] = warnings([series_facts(series(np.zeros(100), steps), 0)], "y")
    assert "1 gap longer than 1.5x the usual step (1:00), the largest 5:00" in line
    assert "1 step shorter than half the usual one" in line


def test_weekends_of_trading_days_are_not_gaps():
    import csv

    with open(MSFT, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:300]
    whens = [dt.datetime.fromisoformat(r["Date"]).replace(tzinfo=dt.timezone.utc) for r in rows]
    facts = series_facts(Series("", [r["Date"] for r in rows],
                                np.array([int(w.timestamp() * 1e6) for w in whens]),
                                np.array([[float(r["Close"])] for r in rows]), ["train"] * len(rows)), 0)
    assert facts["gaps"] == 0          # neither the 60 weekends nor a single market holiday


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6, allow_nan=False),
                          st.floats(0.01, 1000, allow_nan=False)), min_size=2, max_size=60))
def test_any_series_gives_facts_and_at_most_one_line_per_problem(points):
    values, steps = zip(*points)
    facts = series_facts(series(values, list(steps[1:])), 0)
    assert facts["rows"] == len(values)
    assert facts["gaps"] + facts["short"] <= len(values) - 1
    assert len(warnings([facts], "y")) <= 2
