"""Spans: ``data.path`` patterns with ``{SPAN}`` (an integer) or ``{YYYY}``, ``{MM}``, ``{DD}``
(a date), one span per new batch of data, e.g. ``data/prices-{SPAN}.csv`` or
``data/{YYYY}-{MM}-{DD}/*.csv``.

A run reads the newest span by default; ``data.spans`` selects a range (``first``, ``last``,
inclusive) and/or the newest ``latest`` spans of it. Other ``*``/``?`` wildcards match files within
a span. Without a span token the path is a plain file or glob.
"""
from __future__ import annotations

import glob
import os
import re
from datetime import date

from seqline.pipeline.errors import ConfigError

TOKENS = {"{SPAN}": r"(?P<span>\d+)", "{YYYY}": r"(?P<year>\d{4})", "{MM}": r"(?P<month>\d{2})",
          "{DD}": r"(?P<day>\d{2})"}
DATE_TOKENS = ("{YYYY}", "{MM}", "{DD}")


def is_pattern(path: str) -> bool:
    return any(token in path for token in TOKENS)


def _kind(path: str) -> str:
    dates = [t in path for t in DATE_TOKENS]
    if "{SPAN}" in path and any(dates):
        raise ConfigError("data.path: use either {SPAN} or {YYYY}/{MM}/{DD}, not both")
    if any(dates) and not all(dates):
        raise ConfigError("data.path: a date span needs all of {YYYY}, {MM} and {DD}")
    return "date" if all(dates) else "span"


def _regex(path: str) -> re.Pattern:
    parts = re.split(r"(\{SPAN\}|\{YYYY\}|\{MM\}|\{DD\}|\*|\?)", path)
    out = []
    for part in parts:
        if part in TOKENS:
            out.append(TOKENS[part])
        elif part == "*":
            out.append(r"[^/]*")
        elif part == "?":
            out.append(r"[^/]")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out) + r"\Z")


def find(path: str) -> dict:
    """Every span matching ``path``: ``{span: [files]}`` (integers or ``YYYY-MM-DD``)."""
    kind, pattern = _kind(path), _regex(path)
    spans: dict = {}
    wildcard = path
    for token in TOKENS:
        wildcard = wildcard.replace(token, "*")
    for file in sorted(glob.glob(wildcard)):
        match = pattern.match(file)
        if not match or not os.path.isfile(file):
            continue
        if kind == "span":
            span = int(match["span"])
        else:
            try:
                span = date(int(match["year"]), int(match["month"]), int(match["day"])).isoformat()
            except ValueError:
                continue
        spans.setdefault(span, []).append(file)
    return spans


def _bound(value, kind: str, key: str):
    if value is None:
        return None
    if kind == "span":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"data.spans.{key}: expected an integer span, got {value!r}")
        return value
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"data.spans.{key}: expected a date YYYY-MM-DD, got {value!r}") from None


def resolve(path: str, selection: dict) -> tuple:
    """``(spans, files)`` a run reads: spans in ``[first, last]``, then the newest ``latest``
    of them (all with ``latest: null``). Raises a ConfigError when none match."""
    kind = _kind(path)
    first = _bound(selection.get("first"), kind, "first")
    last = _bound(selection.get("last"), kind, "last")
    if first is not None and last is not None and first > last:
        raise ConfigError(f"data.spans: first {first} comes after last {last}")
    found = find(path)
    chosen = [s for s in sorted(found) if (first is None or s >= first) and (last is None or s <= last)]
    if selection.get("latest"):
        chosen = chosen[-selection["latest"]:]
    if not chosen:
        where = f" in [{first}, {last}]" if first is not None or last is not None else ""
        raise ConfigError(f"data.path: no span matches {path}{where} "
                          f"(found: {', '.join(map(str, sorted(found))) or 'none'})")
    return chosen, [f for s in chosen for f in found[s]]
