"""Cron expressions (``minute hour day-of-month month day-of-week``) in the local time zone,
matched by the `cronsim <https://pypi.org/project/cronsim/>`_ library with Vixie/Debian cron
semantics.

Each field takes ``*``, numbers, ranges ``a-b``, steps ``*/n`` or ``a-b/n`` and lists ``a,b``;
months and weekdays also take names (``jan``, ``mon``; Sunday is 0 or 7); cronsim's extensions
``L`` (last day of the month) and ``mon#2`` (second Monday) work too. When neither day field
starts with ``*`` a day matches either (``0 0 1-31/2 * mon``: odd days and Mondays); otherwise it
must match both (``0 0 */2 * mon``: odd-numbered Mondays). ``@hourly``, ``@daily``, ``@weekly``,
``@monthly`` and ``@yearly`` are shorthands.

Daylight saving time, as in Debian cron: a job at a fixed time in a skipped hour runs at the end
of the gap (02:30 on the spring-forward night in Berlin runs at 03:00), once in a repeated hour;
a job whose minute or hour field starts with ``*`` follows the clock, so an hourly job fires twice
in the repeated hour.

Example:
    >>> Cron("0 2 * * *").next_after(datetime(2024, 5, 1, 2, 0))
    datetime.datetime(2024, 5, 2, 2, 0)
"""
from __future__ import annotations

import os
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from seqline.pipeline.errors import ConfigError

FIELDS = (("minute", "0-59"), ("hour", "0-23"), ("day-of-month", "1-31"),
          ("month", "1-12 or jan-dec"), ("day-of-week", "0-7 or sun-sat"))
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
UTC = ZoneInfo("UTC")


def local_zone() -> tzinfo:
    """The local time zone: ``TZ`` if set, else ``/etc/localtime``, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"TZ: unknown time zone {name!r} (expected a name like "
                              "Europe/Berlin)") from None
    try:
        key = os.path.realpath("/etc/localtime").split("/zoneinfo/", 1)[1]
        return ZoneInfo(key)
    except (IndexError, ZoneInfoNotFoundError, ValueError):
        pass
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        return UTC


class Cron:
    """A parsed cron expression; :meth:`next_after` gives the next fire time in ``zone``
    (default: :func:`local_zone`)."""

    def __init__(self, expression: str, zone: tzinfo | None = None):
        self.expression = expression
        self.zone = zone or local_zone()
        self.fields = MACROS.get(expression.strip().lower(), expression).split()
        if len(self.fields) != 5:
            raise ConfigError(f"--cron: expected 5 fields (minute hour day-of-month month "
                              f"day-of-week) or a macro like @daily, got {expression!r}")
        for index, (name, allowed) in enumerate(FIELDS):
            alone = ["*"] * 5
            alone[index] = self.fields[index]
            try:
                CronSim(" ".join(alone), datetime(2000, 1, 1))
            except CronSimError:
                raise ConfigError(f"--cron: {name} field {self.fields[index]!r} is not valid: "
                                  f"expected {allowed}, a range a-b, a step */n or a-b/n, or a "
                                  "list a,b") from None
        if self.next_after(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise ConfigError(f"--cron: {expression!r} never fires")

    def instant(self, when: datetime) -> float:
        """``when`` as a POSIX timestamp; a naive ``when`` is a wall-clock time in ``zone``."""
        return (when if when.tzinfo else when.replace(tzinfo=self.zone)).timestamp()

    def next_after(self, when: datetime) -> datetime | None:
        """The first fire time strictly after ``when`` (minute resolution), or None within 50
        years. A naive ``when`` is a wall-clock time in ``zone`` and gives a naive result (with
        ``fold`` set in a repeated hour); an aware one gives an aware result in ``zone``."""
        after = self.instant(when)
        try:
            times = CronSim(" ".join(self.fields), datetime.fromtimestamp(after, self.zone))
            found = next(times)
            while found.timestamp() <= after:   # a fixed-time job seen from a repeated hour
                found = next(times)
        except (CronSimError, StopIteration):
            return None
        return found if when.tzinfo else found.replace(tzinfo=None)

    def fire_times(self, start: datetime, end: datetime, cap: int = 1000) -> list:
        """Fire times in ``(start, end]`` (at most ``cap``)."""
        out, t, last = [], self.next_after(start), self.instant(end)
        while t is not None and self.instant(t) <= last and len(out) < cap:
            out.append(t)
            t = self.next_after(t)
        return out
