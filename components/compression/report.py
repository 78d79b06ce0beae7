"""The trade-off table: printed as text, saved as CSV (one row per variant)."""
from __future__ import annotations

import csv
import math

COLUMNS = ("variant", "target", "status", "metric", "vs float", "size KB", "gzip KB", "p50 ms",
           "p95 ms", "b64 rows/s", "budget", "chosen")
LEGEND = ("gpu: TensorFlow SavedModel (serving signature, raw input); edge: LiteRT .tflite (the "
          "network, batch 1, one thread). Latency on this machine's CPU; b64: rows per second in "
          "batches of 64 (64 batch-1 calls for .tflite).")
CSV_FIELDS = ("name", "target", "runtime", "status", "size_bytes", "gzip_bytes", "weights_bytes",
              "latency_p50_ms", "latency_p95_ms", "throughput_b64", "relative_loss",
              "within_budget", "chosen_for", "source", "ops", "seconds", "note")


def _num(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _cells(row: dict, metric: str, chosen: dict) -> list:
    ok = row["status"] == "ok"
    loss = row.get("relative_loss")
    return [row["name"], row["target"], row["status"],
            _num(row["metrics"].get(metric) if ok else None, ".4f"),
            _num(None if loss is None else 100 * loss, "+.2f") + ("%" if ok and loss is not None else ""),
            _num(row.get("size_bytes", 0) / 1024 if ok else None, ".1f"),
            _num(row.get("gzip_bytes", 0) / 1024 if ok else None, ".1f"),
            _num(row.get("latency_p50_ms") if ok else None, ".3f"),
            _num(row.get("latency_p95_ms") if ok else None, ".3f"),
            _num(row.get("throughput_b64") if ok else None, ".0f"),
            ("ok" if row.get("within_budget") else "over") if ok else "-",
            ",".join(t for t, name in chosen.items() if name == row["name"])]


def format_table(rows: list, metric: str, chosen: dict) -> str:
    """A plain-text table of ``rows`` (``chosen``: target -> chosen variant name), with the notes
    of skipped or failed variants below it."""
    body = [list(COLUMNS)] + [_cells(r, metric, chosen) for r in rows]
    body[0][3] = metric
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{r['name']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + [LEGEND] + notes)


def write_csv(rows: list, path: str, chosen: dict) -> str:
    """One line per variant: every metric, sizes, latencies, budget and selection, notes."""
    metrics = sorted({k for r in rows for k in r["metrics"]})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(CSV_FIELDS[:4]) + metrics + list(CSV_FIELDS[4:]))
        for r in rows:
            extra = {"chosen_for": " ".join(t for t, n in chosen.items() if n == r["name"]),
                     "ops": " ".join(r.get("ops", []))}
            writer.writerow([r.get(k, "") for k in CSV_FIELDS[:4]]
                            + [r["metrics"].get(m, "") for m in metrics]
                            + [extra.get(k, r.get(k, "")) for k in CSV_FIELDS[4:]])
    return path
