#!/usr/bin/env python
"""How do the data stages grow with the number of rows?

Generates the multi-series hourly sensor CSV a user brings (``time, sensor, load, temp``: 200
sensors, daily and weekly seasonality plus noise) at each size, then for each size runs the data
stages of a forecast config (``load`` 24 h ahead from 48 h, split 70/15/15 by time) up to
Transform (or ``--until`` an earlier stage, or ``--until Trainer``: one epoch of an LSTM on
the windows, to see that training memory does not grow with the data), one stage per fresh process (``--from S --until S``,
so each stage's peak RSS is its own), everything in a temporary folder. As the baseline it times
a pandas read of the same file (parse the times, in a fresh process too), measured in the same run.

Prints per size and stage: seconds (the stage's own wall time from the runner), CPU seconds (its
process's, user + system, over the run of that stage: the figure to compare on a shared machine),
rows/s, peak RSS of its process (``VmHWM``), the ratio of seconds and RSS from the smallest to each larger size, and each stage's
seconds over the pandas read's. Exit status 0 whatever it measures. With ``--profile`` the smallest
size's stages run again under cProfile, and the per-row functions with the most own time are
printed (cProfile's overhead inflates them).

Usage:
    .venv/bin/python bench/data_scaling.py                         # 200k and 2M rows (~5 min)
    .venv/bin/python bench/data_scaling.py --small                 # 40k and 400k rows
    .venv/bin/python bench/data_scaling.py --until Trainer         # and one training epoch
    .venv/bin/python bench/data_scaling.py --sizes 40000,200000 --profile --until ExampleGen
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SENSORS = 200
MIN_HOURS = 200   # the test split (the last 15% of the hours) must hold 24-hour targets
DATA_STAGES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform")
STAGES = DATA_STAGES + ("Trainer",)   # --until Trainer: one epoch, to see its memory
PANDAS = "pandas read"


def write_sensor_csv(path: str, rows: int, seed: int = 0) -> int:
    """``rows`` (rounded down to whole hours of all sensors) hourly readings of ``SENSORS``
    sensors from 2025-01-01, in time order: ``time, sensor, load, temp``; returns the row count."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    hours = max(rows // SENSORS, 1)
    t = np.arange(hours, dtype=np.float64)
    daily, weekly = 2 * np.pi * t / 24, 2 * np.pi * t / 168
    level = rng.uniform(20, 80, SENSORS)[:, None]
    phase = rng.uniform(0, 2 * np.pi, SENSORS)[:, None]
    load = level * (1 + 0.3 * np.sin(daily - phase) + 0.1 * np.sin(weekly)
                    + 0.05 * rng.standard_normal((SENSORS, hours)))
    temp = (15 + 8 * np.sin(daily - np.pi / 2) + 5 * np.sin(2 * np.pi * t / 8766)
            + rng.normal(0, 1.5, (SENSORS, hours)))
    stamps = pd.date_range("2025-01-01", periods=hours, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame({"time": np.repeat(stamps.to_numpy(), SENSORS),
                          "sensor": np.tile([f"s{i:03d}" for i in range(SENSORS)], hours),
                          "load": load.T.ravel().round(3), "temp": temp.T.ravel().round(2)})
    tmp = f"{path}.tmp"
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return len(frame)


def write_config(folder: str, data: str) -> str:
    """The forecast config of the benchmark: ``load`` 24 h ahead from the last 48 h."""
    import yaml

    cfg = {"name": "sensor_scaling", "task": "forecast",
           "pipeline_root": os.path.join(folder, "pipeline"),
           "data": {"path": data, "time_column": "time", "series_id_column": "sensor",
                    "feature_columns": ["load", "temp"], "target_column": "load",
                    "split": {"train": 0.7, "eval": 0.15, "test": 0.15}},
           "transform": {"log_returns": False, "lookback": 48, "horizon": 24},
           "model": {"type": "lstm", "units": 8},
           "training": {"epochs": 1, "batch_size": 256},
           "evaluation": {"reference": "none"},
           "pusher": {"serving_dir": os.path.join(folder, "serving")}}
    path = os.path.join(folder, "pipeline.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh)
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set since it started (``VmHWM``). Not ``ru_maxrss``: that
    carries over the parent's resident set from the fork (Linux keeps it across ``exec``), which
    here is the benchmark's own, with the generated data in memory."""
    with open("/proc/self/status", encoding="ascii") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024


def child(what: str, target: str, profile: str | None) -> None:
    """In a fresh process: run one stage of the config ``target`` (or, for ``PANDAS``, read the
    CSV ``target``) and print ``{"seconds": ..., "cpu_s": ...}`` as the last line (``cpu_s``: this
    process's user + system CPU time over the same span, all its threads)."""
    import time

    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu_started = time.process_time()
    if what == PANDAS:
        import pandas as pd

        started = time.perf_counter()
        frame = pd.read_csv(target, dtype={"sensor": str, "load": "float64", "temp": "float64"})
        frame["time"] = pd.to_datetime(frame["time"], format="%Y-%m-%d %H:%M:%S", utc=True)
        seconds = time.perf_counter() - started
    else:
        from seqline.pipeline.config import load_config
        from seqline.pipeline.runner import run_pipeline

        result = run_pipeline(load_config(target), start=what, until=what, quiet=True)
        seconds = result.seconds[what]
    cpu = time.process_time() - cpu_started
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_mb": peak_rss_mb()}))


def measure(what: str, target: str, env: dict, profile: str | None = None) -> dict:
    """Seconds, CPU seconds and peak RSS (MB) of :func:`child` in a fresh process."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", what, target]
    if profile:
        cmd += ["--profile-to", profile]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=err, text=True, check=False)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"{what} failed:\n{stdout[-3000:]}{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def top_functions(profile: str, rows: int, count: int = 10) -> list:
    """The ``count`` functions with the most own time among those called at least once per 10
    rows (the per-row work, not imports or setup), from a cProfile dump: (seconds, calls, name)."""
    import pstats

    def where(path):
        return os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)

    stats = pstats.Stats(profile).stats
    hot = sorted(((tt, nc, f"{where(f)}:{line}({name})")
                  for (f, line, name), (_, nc, tt, _, _) in stats.items() if nc * 10 >= rows),
                 reverse=True)
    return hot[:count]


def run_size(rows: int, folder: str, env: dict, stages: tuple, profile: bool = False) -> tuple:
    """Generate the CSV in ``folder``, time the pandas read and each stage (or, with ``profile``,
    profile each stage instead); returns (rows, results by stage, profiles by stage)."""
    os.makedirs(folder)
    data = os.path.join(folder, "sensors.csv")
    rows = write_sensor_csv(data, rows)
    config = write_config(folder, data)
    results, profiles = {PANDAS: measure(PANDAS, data, env)}, {}
    for stage in stages:
        dump = os.path.join(folder, f"{stage}.prof") if profile else None
        results[stage] = measure(stage, config, env, dump)
        if dump:
            profiles[stage] = top_functions(dump, rows)
    results["file_mb"] = os.path.getsize(data) / 2**20
    return rows, results, profiles


def table(sizes: list, stages: tuple) -> str:
    """One block per size: seconds, rows/s, peak RSS, ratios to the smallest size and to pandas."""
    base_rows, base = sizes[0]
    lines = []
    for rows, res in sizes:
        lines += ["", f"{rows:,} rows ({res['file_mb']:.1f} MB CSV)",
                  f"{'stage':<18}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}{'peak RSS MB':>13}"
                  f"{'x pandas':>10}{'s ratio':>9}{'RSS ratio':>11}"]
        for what in (PANDAS, *stages):
            r, b = res[what], base[what]
            ratio = (f"{r['seconds'] / b['seconds']:>8.1f}x{r['rss_mb'] / b['rss_mb']:>10.2f}x"
                     if rows != base_rows else f"{'-':>9}{'-':>11}")
            lines.append(f"{what:<18}{r['seconds']:>9.2f}{r['cpu_s']:>8.2f}{rows / r['seconds']:>11,.0f}"
                         f"{r['rss_mb']:>13.0f}{r['seconds'] / res[PANDAS]['seconds']:>9.1f}x{ratio}")
        data = [s for s in stages if s in DATA_STAGES]
        total = sum(res[s]["seconds"] for s in data)
        cpu = sum(res[s]["cpu_s"] for s in data)
        lines.append(f"{'data stages':<18}{total:>9.2f}{cpu:>8.2f}{rows / total:>11,.0f}"
                     f"{max(res[s]['rss_mb'] for s in data):>13.0f}"
                     f"{total / res[PANDAS]['seconds']:>9.1f}x")
    if len(sizes) > 1:
        lines += ["", f"ratios: each size against {base_rows:,} rows "
                  f"(linear growth: {sizes[-1][0] / base_rows:.1f}x)"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,2000000",
                        help="comma-separated row counts (default: %(default)s)")
    parser.add_argument("--small", action="store_true", help="quick run: --sizes 40000,400000")
    parser.add_argument("--profile", action="store_true",
                        help="profile the smallest size's stages with cProfile")
    parser.add_argument("--until", choices=STAGES, default=DATA_STAGES[-1],
                        help="last stage to run (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.profile_to)
        return 0
    try:
        sizes = sorted(int(s) for s in ("40000,400000" if args.small else args.sizes).split(","))
    except ValueError:
        parser.error(f"--sizes: expected comma-separated row counts, got {args.sizes!r}")
    if not sizes or sizes[0] < MIN_HOURS * SENSORS:
        parser.error(f"--sizes: each size must be at least {MIN_HOURS * SENSORS} rows "
                     f"({MIN_HOURS} hours per sensor: the test split must hold windows)")

    tmp = tempfile.mkdtemp(prefix="seqline-scaling-")
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               MLFLOW_TRACKING_URI=f"sqlite:///{os.path.join(tmp, 'mlflow.db')}")
    profiles = {}
    try:
        stages = STAGES[:STAGES.index(args.until) + 1]
        measured = [run_size(rows, os.path.join(tmp, str(rows)), env, stages)[:2] for rows in sizes]
        if args.profile:   # a separate pass: cProfile slows what it measures
            profiles = run_size(sizes[0], os.path.join(tmp, "profile"), env, stages, True)[2]
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"seqline data stages at scale: {SENSORS} hourly sensors, forecast load 24 h from 48 h, "
          f"--until {args.until}, DirectRunner, one stage per fresh process")
    print(table(measured, stages))
    for stage, top in profiles.items():
        rows = measured[0][0]
        print(f"\ncProfile {stage} ({rows:,} rows): most own time, functions called per row")
        for tt, calls, name in top:
            print(f"  {tt:>7.2f}s {1e6 * tt / rows:>7.1f} us/row {calls / rows:>6.1f} calls/row  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
