"""Process-wide counts of the work a stage has done (rows read, records written), shown by the
progress display while the stage runs.

Beam transforms add to them as elements pass. On the in-process DirectRunner (the default) that
is this process, so the counts move; other runners count in their own processes, where their
own UI shows Beam's metrics, and the display here stays silent.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_counts: dict = {}


def add(unit: str, n: int = 1) -> None:
    """Count ``n`` more of ``unit`` (e.g. ``"rows read"``)."""
    with _lock:
        _counts[unit] = _counts.get(unit, 0) + n


def snapshot() -> dict:
    """``{unit: count}`` so far, in the order the units first appeared."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    """Start counting from zero (a new stage)."""
    with _lock:
        _counts.clear()


def counted(items, unit: str, every: int = 1000):
    """Yield from ``items``, adding to ``unit`` every ``every`` items and at the end."""
    pending = 0
    for item in items:
        yield item
        pending += 1
        if pending == every:
            add(unit, pending)
            pending = 0
    if pending:
        add(unit, pending)
