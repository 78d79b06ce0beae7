"""A small cron expression parser: ``minute hour day-of-month month day-of-week`` in local time.

Each field takes ``*``, numbers, ranges ``a-b``, steps ``*/n`` or ``a-b/n`` and lists ``a,b``;
months and weekdays also take names (``jan``, ``mon``; Sunday is 0 or 7). As in Vixie cron, when
both day fields are restricted a day matches either. ``@hourly``, ``@daily``, ``@weekly``,
``@monthly`` and ``@yearly`` are shorthands.

Example:
    >>> Cron("0 2 * * *").next_after(datetime(2024, 5, 1, 2, 0))
    datetime.datetime(2024, 5, 2, 2, 0)
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.errors import ConfigError

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))
NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
         4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
SEARCH_YEARS = 5


def _number(text: str, index: int) -> int:
    names = NAMES.get(index)
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _field(text: str, index: int) -> set:
    name, low, high = FIELDS[index]
    values = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step {step_text!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = _number(first, index), _number(last, index)
        else:
            start = end = _number(body, index)
            if step:
                end = high
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"{body!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    if index == 4 and 7 in values:          # Sunday is 0 or 7
        values = (values - {7}) | {0}
    return values


class Cron:
    """A parsed cron expression; :meth:`next_after` gives the next fire time."""

    def __init__(self, expression: str):
        self.expression = expression
        fields = MACROS.get(expression.strip().lower(), expression).split()
        if len(fields) != 5:
            raise ConfigError(f"--cron: expected 5 fields (minute hour day-of-month month "
                              f"day-of-week) or a macro like @daily, got {expression!r}")
        parsed = []
        for index, text in enumerate(fields):
            try:
                parsed.append(_field(text, index))
            except ValueError as exc:
                raise ConfigError(f"--cron: {FIELDS[index][0]} field {text!r}: {exc}") from None
        self.minutes, self.hours, self.days, self.months, self.weekdays = parsed
        self.any_day = fields[2] == "*"
        self.any_weekday = fields[4] == "*"
        if self.next_after(datetime(2000, 1, 1)) is None:
            raise ConfigError(f"--cron: {expression!r} never fires")

    def _day_matches(self, when: datetime) -> bool:
        day = when.day in self.days
        weekday = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def next_after(self, when: datetime) -> datetime | None:
        """The first fire time strictly after ``when`` (minute resolution), or None within
        :data:`SEARCH_YEARS` years."""
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + timedelta(days=366 * SEARCH_YEARS)
        while t <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None

    def fire_times(self, start: datetime, end: datetime, cap: int = 1000) -> list:
        """Fire times in ``(start, end]`` (at most ``cap``)."""
        out, t = [], self.next_after(start)
        while t is not None and t <= end and len(out) < cap:
            out.append(t)
            t = self.next_after(t)
        return out
