"""Size on disk (raw and gzipped) and CPU latency of a variant."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import time

import numpy as np


def disk_size(path: str) -> int:
    """Bytes of a file, or of every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def gzip_size(path: str) -> int:
    """Bytes of the file gzipped (level 9), or of the folder as a gzipped tar (what a download of
    the variant costs). Deterministic: file order and times are fixed."""
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            return len(gzip.compress(fh.read(), compresslevel=9, mtime=0))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                info = tar.gettarinfo(full, os.path.relpath(full, path))
                info.mtime = 0
                with open(full, "rb") as fh:
                    tar.addfile(info, fh)
    return len(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))


def latency(one_row, sixty_four_rows, runs: int = 200, batch_runs: int = 10, warmup: int = 5) -> dict:
    """Batch-1 latency (median and 95th percentile of ``runs`` calls, ms) and batch-64 throughput
    (rows per second over ``batch_runs`` calls), after ``warmup`` calls of each."""
    if runs < 1 or batch_runs < 1:
        raise ValueError(f"runs and batch_runs must be >= 1, got {runs} and {batch_runs}")
    for _ in range(warmup):
        one_row()
        sixty_four_rows()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        one_row()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(batch_runs):
        sixty_four_rows()
    elapsed = time.perf_counter() - start
    ms = np.asarray(times) * 1000.0
    return {"latency_p50_ms": float(np.percentile(ms, 50)), "latency_p95_ms": float(np.percentile(ms, 95)),
            "throughput_b64": float(64 * batch_runs / elapsed)}
