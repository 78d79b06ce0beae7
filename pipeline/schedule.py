"""``seqline schedule``: run a pipeline on a cron schedule, in the foreground (for systemd or a
container), one log line per run.

Each run is a ``seqline run`` subprocess (a crash or a leak in one run cannot take the scheduler
down), which takes the pipeline root's lock as any run does: a run that finds the root busy
(a manual run, say) is logged as skipped. One scheduler per pipeline root (its own lock file).
A run's full output goes to ``<pipeline_root>/.schedule/<start time>.log``.

Misfires (fire times that passed while a run was still going, or while the machine slept):

* ``run-once`` (default): run once, right away, for all of them;
* ``skip``: skip them and wait for the next fire time. A fire time is missed when the scheduler
  gets to it more than ``grace`` seconds late.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import datetime

from seqline.pipeline.cron import Cron
from seqline.pipeline.lock import pipeline_lock

MISFIRE_POLICIES = ("run-once", "skip")
SCHEDULER_LOCK = ".schedule.lock"
BUSY = 4         # seqline run's exit code when another run holds the pipeline root


def launch_run(config: str, run_args: list, log_path: str) -> int:
    """``seqline run CONFIG ...`` in a subprocess, its output in ``log_path``; the exit code."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        return subprocess.call([sys.executable, "-m", "seqline", "run", config, *run_args],
                               stdout=log, stderr=subprocess.STDOUT)


def _status(code: int) -> str:
    return {0: "ok", BUSY: "skipped: pipeline root busy", 2: "config error",
            3: "data error or anomalies"}.get(code, "failed")


def run_schedule(config: str, pipeline_root: str, cron: Cron, *, misfire: str = "run-once",
                 grace: float = 60.0, run_now: bool = False, max_runs: int | None = None,
                 run_args: list | None = None, log=None, now=None, sleep=time.sleep,
                 launch=launch_run) -> int:
    """Run ``config`` at every fire time of ``cron`` until interrupted (or ``max_runs`` runs).

    Each line goes to ``log`` (default: info of the ``seqline.schedule`` logger). ``now``
    (default: the time in the cron's zone), ``sleep`` and ``launch`` are injectable for tests.
    Returns the number of runs.
    """
    log = log or logging.getLogger("seqline.schedule").info
    now = now or (lambda: datetime.now(cron.zone))
    if misfire not in MISFIRE_POLICIES:
        raise ValueError(f"misfire must be one of {MISFIRE_POLICIES}, got {misfire!r}")
    with pipeline_lock(pipeline_root, name=SCHEDULER_LOCK, what="scheduler"):
        due = now() if run_now else cron.next_after(now())
        log(f"{now():%Y-%m-%d %H:%M:%S} seqline schedule: {config} on '{cron.expression}' "
            f"(misfire: {misfire}); first run {due:%Y-%m-%d %H:%M}")
        runs = 0
        while max_runs is None or runs < max_runs:
            wait = cron.instant(due) - cron.instant(now())   # not wall-clock times: DST
            if wait > 0:
                sleep(min(wait, 60.0))        # wake up regularly: the clock may jump
                continue
            late = max(0.0, -wait)
            if late > grace and misfire == "skip":
                log(f"{now():%Y-%m-%d %H:%M:%S} skipped the run due {due:%Y-%m-%d %H:%M} "
                    f"({late:.0f}s late)")
                due = cron.next_after(now())
                continue
            started = now()
            log_path = os.path.join(pipeline_root, ".schedule", f"{started:%Y%m%d-%H%M%S}.log")
            code = launch(config, list(run_args or []), log_path)
            finished = now()
            runs += 1
            missed = cron.fire_times(due, finished)
            if missed and misfire == "run-once":
                following = f"now (for {len(missed)} fire time{'s' if len(missed) > 1 else ''} " \
                            "missed during this run)"
                due = missed[-1]
            else:
                due = cron.next_after(finished)
                following = f"{due:%Y-%m-%d %H:%M}" + (f" ({len(missed)} missed fire times "
                                                        "skipped)" if missed else "")
            seconds = cron.instant(finished) - cron.instant(started)
            log(f"{started:%Y-%m-%d %H:%M:%S} run {runs}: exit {code} ({_status(code)}) in "
                f"{seconds:.1f}s, late {late:.0f}s; log {log_path}; "
                f"next {following}")
        return runs
