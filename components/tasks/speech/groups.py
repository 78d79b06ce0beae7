"""CER/WER per group of test clips: per speaker and per value of each manifest condition column
(``channel``, ``engine``, ...), worst groups first."""
from __future__ import annotations

import re

BLANK = "(blank)"   # the group of clips whose cell in the column is empty
FIELDS = ("column", "group", "clips", "cer", "wer", "char_errors", "chars", "word_errors", "words")


def group_table(rows: list, columns: list) -> list:
    """One row per ``(column, value)`` of ``rows`` (the Evaluator's per-clip rows, which carry
    ``char_errors``, ``word_errors``, ``reference`` and a key per column): corpus CER and WER of
    that group's clips (clips with an empty cell form the group :data:`BLANK`). Columns keep their order; within one, the worst CER comes first (ties:
    worst WER, then name)."""
    table = []
    for column in columns:
        totals = {}
        for r in rows:
            t = totals.setdefault(r[column] or BLANK, [0, 0, 0, 0, 0])
            t[0] += 1
            t[1] += r["char_errors"]
            t[2] += len(r["reference"])
            t[3] += r["word_errors"]
            t[4] += len(r["reference"].split())
        part = [{"column": column, "group": g, "clips": n, "cer": ce / max(nc, 1),
                 "wer": we / max(nw, 1), "char_errors": ce, "chars": nc, "word_errors": we,
                 "words": nw} for g, (n, ce, nc, we, nw) in totals.items()]
        table += sorted(part, key=lambda r: (-r["cer"], -r["wer"], r["group"]))
    return table


def format_table(table: list, column: str, limit: int | None = None) -> str:
    """The rows of ``column`` as aligned text (``limit``: the worst ones only)."""
    part = [r for r in table if r["column"] == column][:limit]
    width = max([len(column)] + [len(r["group"]) for r in part])
    lines = [f"{column:<{width}}  {'clips':>5}  {'CER':>7}  {'WER':>7}"]
    lines += [f"{r['group']:<{width}}  {r['clips']:>5}  {r['cer']:>7.2%}  {r['wer']:>7.2%}"
              for r in part]
    return "\n".join(lines)


def metric_name(column: str, group: str, rate: str) -> str:
    """An MLflow metric key such as ``cer_by_channel/telephone`` (other characters become _)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", f"{rate}_by_{column}/{group}")
