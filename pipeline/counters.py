"""Process-wide counts of the work a stage has done (rows read, records written, windows
scored) and what it is doing now (``doing``: the Compressor's variant and step), shown by the
progress display while the stage runs.

Beam transforms add to them as elements pass. On the in-process DirectRunner (the default) that
is this process, so the counts move; other runners count in their own processes, where their
own UI shows Beam's metrics, and the display here stays silent.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_counts: dict = {}
_doing = ""


def add(unit: str, n: int = 1) -> None:
    """Count ``n`` more of ``unit`` (e.g. ``"rows read"``)."""
    with _lock:
        _counts[unit] = _counts.get(unit, 0) + n


def snapshot() -> dict:
    """``{unit: count}`` so far, in the order the units first appeared."""
    with _lock:
        return dict(_counts)


def doing(text: str) -> None:
    """Say what the stage is doing now (e.g. ``"variant 3 of 9, tflite_int8: converting"``)."""
    global _doing
    with _lock:
        _doing = text


def now_doing() -> str:
    """What the stage said it is doing, ``""`` if nothing."""
    with _lock:
        return _doing


def reset() -> None:
    """Start counting from zero, doing nothing yet (a new stage)."""
    global _doing
    with _lock:
        _counts.clear()
        _doing = ""


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
