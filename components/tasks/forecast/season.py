"""The seasonal period a forecast config leaves unset, inferred from the data's time step.

The typical step between rows (the median, per series) names the calendar: half-hourly data
repeats every 48 steps (a day), hourly every 24, daily every 7 (5 for trading days, which skip
weekends), weekly every 52, monthly every 12, quarterly every 4. Other steps have no known
season (period 1: the seasonal-naive forecast is the naive one).
"""
from __future__ import annotations

import statistics
from itertools import islice

from seqline.components.tasks.csv_records import parse_time, read_rows

DAY = 86400
# (shortest step, longest step in seconds, period, name)
CALENDAR = (
    (15 * 60, 15 * 60, 96, "quarter-hourly"),
    (30 * 60, 30 * 60, 48, "half-hourly"),
    (3600, 3600, 24, "hourly"),
    (DAY, DAY, 7, "daily"),
    (7 * DAY, 7 * DAY, 52, "weekly"),
    (28 * DAY, 31 * DAY, 12, "monthly"),
    (89 * DAY, 92 * DAY, 4, "quarterly"),
)
SAMPLE_ROWS = 5000


def period_for_steps(steps: list, weekdays: set) -> tuple:
    """``(period, description)`` for the step lengths (seconds) seen between rows and the
    weekdays (0 = Monday) the rows fall on."""
    if not steps:
        return 1, "too few rows to tell the time step: no seasonal period"
    step = statistics.median(steps)
    for low, high, period, name in CALENDAR:
        if low <= step <= high:
            if name == "daily" and weekdays and max(weekdays) < 5:
                return 5, "inferred from trading-day steps (no weekends): 5 per week"
            return period, f"inferred from {name} time steps"
    return 1, f"no calendar season for a time step of {step:g} s: period 1 (naive)"


def infer_seasonal_period(path: str, time_column: str, time_format: str | None,
                          series_column: str | None) -> tuple:
    """``(period, description)`` from the first rows of ``path`` (a CSV with a header).

    Unparsable times are skipped here; ExampleGen reports them with their row numbers.
    """
    last, steps, weekdays = {}, [], set()
    for _, _, row in islice(read_rows(path), SAMPLE_ROWS):
        try:
            when = parse_time(row.get(time_column, "").strip(), time_format)
        except ValueError:
            continue
        key = row.get(series_column) if series_column else None
        if key in last and when > last[key]:
            steps.append((when - last[key]).total_seconds())
        last[key] = when
        weekdays.add(when.weekday())
    return period_for_steps(steps, weekdays)
