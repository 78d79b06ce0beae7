"""Warnings a forecaster needs before trusting a score: test targets outside the range the model
was trained on, and irregular time steps (gaps, daylight-saving hours, quarantined runs).

``series_facts`` summarizes one series (it runs in the Transform's Beam pipeline); ``warnings``
turns the facts of all series into one line per problem.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

DAY_US = 86_400_000_000
GAP = 1.5          # a step longer than this many usual steps is a gap
TRADING_GAP = 2.5  # trading days: a market holiday (2 business days) is usual
SHORT = 0.5        # a step shorter than this fraction of the usual step is irregular


def _steps(timestamps: np.ndarray) -> tuple:
    """``(steps between rows in microseconds, gap factor)``. Daily data on weekdays only
    (trading days) is measured in business days, and a single holiday is not a gap either."""
    steps = np.diff(timestamps)
    if len(steps) == 0 or np.median(steps) != DAY_US:
        return steps, GAP
    days = (timestamps // DAY_US).astype("datetime64[D]")
    if (np.is_busday(days)).all():
        return np.busday_count(days[:-1], days[1:]) * DAY_US, TRADING_GAP
    return steps, GAP


def series_facts(series, target_index: int) -> dict:
    """A :class:`~seqline.components.tasks.forecast.transform.Series` -> the train and test
    target range and its step facts."""
    target = series.values[:, target_index]
    split = np.array(series.splits)
    facts = {"series": series.series_id, "rows": len(target)}
    for name in ("train", "test"):
        part = target[(split == name) & np.isfinite(target)]
        if len(part):
            facts[name] = [float(part.min()), float(part.max())]
    steps, gap = _steps(np.asarray(series.stamps, dtype=np.int64))
    if len(steps):
        usual = float(np.median(steps))
        gaps = np.flatnonzero(steps > gap * usual)
        facts.update(usual_step=usual, gap_factor=gap, gaps=len(gaps),
                     short=int((steps < SHORT * usual).sum()))
        if len(gaps):
            worst = gaps[np.argmax(steps[gaps])]
            facts.update(largest_gap=float(steps[worst]), gap_after=series.times[worst])
    return facts


def _duration(us: float) -> str:
    return str(dt.timedelta(microseconds=int(us))).removesuffix(":00").removesuffix(", 0:00")


def _range_warning(facts: list, target: str) -> str | None:
    outside = []
    for f in facts:
        if "train" not in f or "test" not in f:
            continue
        (lo, hi), (tlo, thi) = f["train"], f["test"]
        span = max(hi - lo, 1e-12)
        over = max(thi - hi, lo - tlo, 0.0) / span
        if over > 0:
            outside.append((over, f, tlo, thi, lo, hi))
    if not outside:
        return None
    over, f, tlo, thi, lo, hi = max(outside, key=lambda o: o[0])
    where = f" in {len(outside)} of {len(facts)} series (worst: {f['series']})" if len(facts) > 1 else ""
    return (f"warning: test targets of {target} lie outside the train range{where}: test "
            f"{tlo:.5g}..{thi:.5g}, train {lo:.5g}..{hi:.5g} ({over:.0%} of the train range "
            "beyond it); a level model (normalization: global) cannot reach such values")


def _step_warning(facts: list) -> str | None:
    gaps = sum(f.get("gaps", 0) for f in facts)
    short = sum(f.get("short", 0) for f in facts)
    if not gaps and not short:
        return None
    parts = []
    if gaps:
        f = max((f for f in facts if f.get("gaps")), key=lambda f: f["largest_gap"])
        parts.append(f"{gaps} gap{'s' if gaps > 1 else ''} longer than {f['gap_factor']}x the "
                     f"usual step "
                     f"({_duration(f['usual_step'])}), the largest {_duration(f['largest_gap'])} "
                     f"after {f['gap_after']}" + (f" ({f['series']})" if len(facts) > 1 else ""))
    if short:
        parts.append(f"{short} step{'s' if short > 1 else ''} shorter than half the usual one")
    return ("warning: irregular time steps: " + "; ".join(parts) + " (windows across them mix "
            "unequal steps: quarantined runs, missing dates or a daylight-saving change)")


def warnings(facts: list, target: str) -> list:
    """One line per problem found in the facts of every series."""
    return [w for w in (_range_warning(facts, target), _step_warning(facts)) if w]
