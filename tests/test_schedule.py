"""Cron expressions, the scheduler's loop and misfire policies, and the Airflow DAG export."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from seqline.pipeline.airflow_export import dag_file
from seqline.pipeline.dag import DEFAULT_STAGES as STAGES
from seqline.pipeline.cron import Cron, local_zone
from seqline.pipeline.dag import build_dag, dependencies
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.lock import PipelineBusy, pipeline_lock
from seqline.pipeline.schedule import SCHEDULER_LOCK, run_schedule
from tests.forecast_fixtures import ROOT


# --- cron ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, after, expected", [
    ("0 2 * * *", "2024-05-01 01:59", "2024-05-01 02:00"),
    ("0 2 * * *", "2024-05-01 02:00", "2024-05-02 02:00"),
    ("*/15 * * * *", "2024-05-01 10:07", "2024-05-01 10:15"),
    ("30 9 * * mon-fri", "2024-05-03 10:00", "2024-05-06 09:30"),      # Friday -> Monday
    ("0 0 29 feb *", "2024-03-01 00:00", "2028-02-29 00:00"),         # next leap day
    ("0 12 1 * 0", "2024-05-02 00:00", "2024-05-05 12:00"),           # 1st OR a Sunday
    ("0 0 * * 7", "2024-05-01 00:00", "2024-05-05 00:00"),            # 7 is Sunday too
    ("@monthly", "2024-12-15 08:00", "2025-01-01 00:00"),
    ("5,10-12/2 3 * jan,dec *", "2024-02-01 00:00", "2024-12-01 03:05"),
])
def test_next_fire_time(expr, after, expected):
    parse = lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M")   # noqa: E731
    assert Cron(expr).next_after(parse(after)) == parse(expected)


@pytest.mark.parametrize("expr, message", [
    ("0 2 * *", "expected 5 fields"),
    ("60 * * * *", "minute field '60' is not valid: expected 0-59, a range"),
    ("0 2 * * funday", "day-of-week field 'funday' is not valid: expected 0-7 or sun-sat"),
    ("*/0 * * * *", "minute field '\\*/0' is not valid"),
    ("0 0 31 feb *", "never fires"),
    ("0 0 30 2 *", "never fires"),
])
def test_bad_cron_expressions_are_config_errors(expr, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Cron(expr)
    assert "\n" not in str(caught.value)


BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str, fold: int = 0) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN, fold=fold)


def test_day_fields_as_in_vixie_cron():
    may = (datetime(2024, 4, 30, 23, 0), datetime(2024, 5, 31, 23, 59))
    # '*/2' starts with '*': the day must be odd AND a Monday
    assert [t.day for t in Cron("0 0 */2 * mon").fire_times(*may)] == [13, 27]
    # '1-31/2' is the same set of days but restricted: odd days OR Mondays
    odd_or_monday = sorted(set(range(1, 32, 2)) | {6, 13, 20, 27})
    assert [t.day for t in Cron("0 0 1-31/2 * mon").fire_times(*may)] == odd_or_monday


@pytest.mark.parametrize("macro, expression", [
    ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"), ("@DAILY", "0 0 * * *"),
])
def test_macros_fire_like_their_expressions(macro, expression):
    span = (datetime(2024, 1, 1, 0, 30), datetime(2026, 1, 1))
    assert Cron(macro).fire_times(*span, cap=20000) == Cron(expression).fire_times(*span,
                                                                                    cap=20000)


def test_a_job_in_the_skipped_hour_runs_at_the_end_of_the_gap():
    cron = Cron("30 2 * * *", BERLIN)        # 2024-03-31: 02:00 CET -> 03:00 CEST
    first = cron.next_after(berlin("2024-03-30 12:00"))
    assert first == berlin("2024-03-31 03:00") and first.utcoffset() == timedelta(hours=2)
    assert cron.next_after(first) == berlin("2024-04-01 02:30")


def test_in_the_repeated_hour_an_hourly_job_fires_twice_a_fixed_time_job_once():
    # 2024-10-27: 03:00 CEST -> 02:00 CET, the hour 02:00-02:59 happens twice
    hourly = Cron("0 * * * *", BERLIN).fire_times(berlin("2024-10-27 00:30"),
                                                  berlin("2024-10-27 03:30"))
    assert [(f"{t:%H:%M}", t.utcoffset().seconds // 3600) for t in hourly] == [
        ("01:00", 2), ("02:00", 2), ("02:00", 1), ("03:00", 1)]
    fixed = Cron("30 2 * * *", BERLIN)
    assert fixed.fire_times(berlin("2024-10-27 00:00"), berlin("2024-10-27 23:00")) == [
        berlin("2024-10-27 02:30")]
    # seen from the second 02:10 the first 02:30 has passed: the next is the following night
    assert fixed.next_after(berlin("2024-10-27 02:10", fold=1)) == berlin("2024-10-28 02:30")


def test_the_local_zone_comes_from_tz(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert local_zone() == BERLIN and Cron("@daily").zone == BERLIN
    monkeypatch.setenv("TZ", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match="TZ: unknown time zone 'Mars/Olympus_Mons'"):
        Cron("@daily")


# --- the scheduler loop --------------------------------------------------------------------------

class Clock:
    """A fake clock: ``sleep`` advances it; ``jump`` makes the next sleep oversleep."""

    def __init__(self, start: str):
        self.t = datetime.strptime(start, "%Y-%m-%d %H:%M")
        self.slept, self.extra = [], timedelta(0)

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds) + self.extra
        self.extra = timedelta(0)


def schedule(tmp_path, clock, durations, codes=None, **kw):
    """Run the loop with runs lasting ``durations`` minutes; returns (start times, log lines)."""
    started, lines, codes = [], [], list(codes or [0] * len(durations))

    def launch(config, args, log_path):
        started.append(clock.now().strftime("%H:%M"))
        clock.t += timedelta(minutes=durations[len(started) - 1])
        return codes[len(started) - 1]

    run_schedule("p.yaml", str(tmp_path), Cron(kw.pop("cron", "0 * * * *")), max_runs=len(durations),
                 log=lines.append, now=clock.now, sleep=clock.sleep, launch=launch, **kw)
    return started, lines


def test_runs_at_each_fire_time_with_one_log_line_per_run(tmp_path):
    clock = Clock("2024-05-01 10:30")
    started, lines = schedule(tmp_path, clock, [5, 5])
    assert started == ["11:00", "12:00"]
    assert max(clock.slept) <= 60                       # wakes up at least every minute
    assert lines[0].endswith("first run 2024-05-01 11:00")
    assert len(lines) == 3
    assert lines[1].startswith("2024-05-01 11:00:00 run 1: exit 0 (ok) in 300.0s, late 0s; log ")
    assert lines[1].endswith("next 2024-05-01 12:00")


def test_misfire_run_once_coalesces_fire_times_missed_during_a_long_run(tmp_path):
    started, lines = schedule(tmp_path, Clock("2024-05-01 10:59"), [150, 5, 5])
    assert started == ["11:00", "13:30", "14:00"]
    assert lines[1].endswith("next now (for 2 fire times missed during this run)")


def test_misfire_skip_waits_for_the_next_fire_time(tmp_path):
    started, lines = schedule(tmp_path, Clock("2024-05-01 10:59"), [150, 5], misfire="skip")
    assert started == ["11:00", "14:00"]
    assert lines[1].endswith("next 2024-05-01 14:00 (2 missed fire times skipped)")


def test_misfire_skip_drops_a_run_the_scheduler_woke_up_too_late_for(tmp_path):
    clock = Clock("2024-05-01 10:59")
    clock.extra = timedelta(minutes=5)                  # e.g. the machine was suspended
    started, lines = schedule(tmp_path, clock, [5], misfire="skip", grace=60)
    assert started == ["12:00"]
    assert "skipped the run due 2024-05-01 11:00 (300s late)" in lines[1]


def test_the_scheduler_runs_an_hourly_job_in_both_repeated_hours(tmp_path):
    utc = ZoneInfo("UTC")

    class ZoneClock(Clock):
        """Advances in elapsed time (through UTC), as a real clock does across DST."""

        def __init__(self, start):
            self.t, self.slept, self.extra = start, [], timedelta(0)

        def sleep(self, seconds):
            self.slept.append(seconds)
            self.t = (self.t.astimezone(utc) + timedelta(seconds=seconds)).astimezone(BERLIN)

    clock, started = ZoneClock(berlin("2024-10-27 01:30")), []

    def launch(config, args, log_path):
        started.append(f"{clock.t:%H:%M%z}")
        clock.sleep(60)
        return 0

    run_schedule("p.yaml", str(tmp_path), Cron("@hourly", BERLIN), max_runs=3, log=lambda _: None,
                 now=clock.now, sleep=clock.sleep, launch=launch)
    assert started == ["02:00+0200", "02:00+0100", "03:00+0100"]


def test_a_busy_pipeline_root_is_logged_and_a_second_scheduler_refused(tmp_path):
    _, lines = schedule(tmp_path, Clock("2024-05-01 10:59"), [1], codes=[4])
    assert "exit 4 (skipped: pipeline root busy)" in lines[1]
    with pipeline_lock(str(tmp_path), name=SCHEDULER_LOCK, what="scheduler"):
        with pytest.raises(PipelineBusy, match="stop that scheduler first"):
            schedule(tmp_path, Clock("2024-05-01 10:59"), [1])


def test_cli_schedule_runs_the_pipeline_now_and_logs_one_line(finished_run):
    env = dict(os.environ, PYTHONPATH=ROOT, MLFLOW_TRACKING_URI=finished_run.tracking_uri)
    done = subprocess.run([sys.executable, "-m", "seqline", "schedule", finished_run.config,
                           "--cron", "0 3 1 1 *", "--now", "--max-runs", "1"], cwd=finished_run.tmp,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and "on '0 3 1 1 *' (misfire: run-once)" in lines[0]
    assert " run 1: exit 0 (ok) in " in lines[1] and lines[1].endswith(" 03:00")
    log_path = lines[1].split("; log ")[1].split(";")[0]
    assert f"{len(STAGES)} of {len(STAGES)} stages reused" in open(log_path).read()


# --- Airflow -------------------------------------------------------------------------------------

def fake_airflow():
    """Just enough of Airflow's API to import a DAG file and record its tasks and edges."""
    recorded = {"tasks": {}, "edges": set(), "dag": None}

    class DAG:
        def __init__(self, **kwargs):
            recorded["dag"] = kwargs

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class BashOperator:
        def __init__(self, task_id, bash_command):
            self.task_id = task_id
            recorded["tasks"][task_id] = bash_command

        def __rshift__(self, other):
            recorded["edges"].add((self.task_id, other.task_id))
            return other

    airflow = types.ModuleType("airflow")
    airflow.DAG = DAG
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = BashOperator
    return recorded, {"airflow": airflow, "airflow.operators": types.ModuleType("airflow.operators"),
                      "airflow.operators.bash": bash}


def test_airflow_dag_has_one_task_per_component_wired_like_the_pipeline(finished_run, tmp_path, monkeypatch):
    path = tmp_path / "seqline_dag.py"
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "seqline", "export", "airflow",
                           finished_run.config, "-o", str(path), "--schedule", "0 2 * * *"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    code = compile(text, str(path), "exec")
    recorded, modules = fake_airflow()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    exec(code, {"__name__": "seqline_dag"})
    assert recorded["dag"]["dag_id"] == "seqline_msft_test"
    assert recorded["dag"]["schedule"] == "0 2 * * *" and recorded["dag"]["max_active_runs"] == 1
    assert list(recorded["tasks"]) == list(STAGES)
    for stage, command in recorded["tasks"].items():
        assert command.endswith(f"run {finished_run.config} --from {stage} --until {stage} --wait")
    graph = dependencies({m.SPEC.name: m for m in build_dag()})
    assert recorded["edges"] == {(before, stage) for stage, deps in graph.items() for before in deps}
    assert ("ExampleValidator", "Transform") in recorded["edges"]
    assert "    schedule=None," in dag_file(finished_run.cfg, finished_run.config, None)
