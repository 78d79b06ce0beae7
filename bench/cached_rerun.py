#!/usr/bin/env python
"""How long does rerunning an unchanged pipeline take, when every stage is reused from the cache?

Runs the stock example twice as a user does, with ``seqline run`` in fresh processes (so Python,
MLflow and any TensorFlow import count), everything written into a temporary folder:

1. the first run (every stage executes; ``--epochs``, default 2, keeps it short): the baseline;
2. the same command again: every stage should be reused.

Prints both wall times, the ratio rerun / first run, the rerun against the 10-second target
(PASS/MISS; exit status 0 either way), how many stages were reused, and for reference the time a
bare ``python -c "import tensorflow"`` takes on this machine (a rerun must not pay it).

Usage:
    .venv/bin/python bench/cached_rerun.py [--config examples/stock_forecast/pipeline.yaml]
                                           [--epochs N] [--keep]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_SECONDS = 10.0


def timed(cmd: list, cwd: str, env: dict) -> tuple:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "examples", "stock_forecast",
                                                         "pipeline.yaml"))
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the first run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="seqline-rerun-")
    with open(args.config, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    base = os.path.dirname(os.path.abspath(args.config))
    raw["data"]["path"] = os.path.join(base, raw["data"]["path"])
    raw["pipeline_root"] = os.path.join(tmp, "pipeline")
    raw.setdefault("pusher", {})["serving_dir"] = os.path.join(tmp, "serving")
    raw.setdefault("training", {})["epochs"] = args.epochs
    config = os.path.join(tmp, "pipeline.yaml")
    with open(config, "w", encoding="utf-8") as fh:
        yaml.safe_dump(raw, fh)
    env = dict(os.environ, PYTHONPATH=ROOT, MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlflow.db")
    run = [sys.executable, "-m", "seqline", "run", config]

    tf_import, _ = timed([sys.executable, "-c", "import tensorflow"], tmp, env)
    first, _ = timed(run, tmp, env)
    rerun, out = timed(run, tmp, env)
    reused = re.search(r"(\d+) of (\d+) stages reused", out)
    verdict = "PASS" if rerun < TARGET_SECONDS else "MISS"
    print(f"seqline cached rerun: {args.config} (first run {args.epochs} epochs), fresh processes")
    print(f"{'import tensorflow alone':<28}{tf_import:>8.1f}s   (reference)")
    print(f"{'first run (all stages)':<28}{first:>8.1f}s   (baseline)")
    print(f"{'unchanged rerun':<28}{rerun:>8.1f}s   target < {TARGET_SECONDS:.0f}s  {verdict}")
    print(f"ratio rerun / first run: {rerun / first:.2f}")
    print(f"stages reused: {reused.group(0) if reused else 'none (unexpected)'}")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
