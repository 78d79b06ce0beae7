"""``seqline export airflow``: an Apache Airflow DAG file with one task per component.

Each task runs ``seqline run CONFIG --from <stage> --until <stage> --wait``: it takes the
pipeline root's lock (waiting for a manual run, never overlapping one), reads the newest outputs
of the stages before it and reuses its own outputs when nothing changed. Task dependencies are
the pipeline DAG's. The file imports only Airflow (2.4+ or 3), not seqline.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys

from seqline.pipeline.dag import build_dag, dependencies

TEMPLATE = '''"""Airflow DAG for the seqline pipeline {name!r}, written by `seqline export airflow`.

One task per component; each runs `seqline run CONFIG --from <stage> --until <stage> --wait`.
Edit SEQLINE if the Airflow workers run seqline from another place.
"""
from datetime import datetime, timezone

from airflow import DAG

try:                                   # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:                    # Airflow 2
    from airflow.operators.bash import BashOperator

SEQLINE = {seqline!r}
CONFIG = {config!r}
STAGES = {stages!r}
UPSTREAM = {upstream!r}

with DAG(
    dag_id={dag_id!r},
    schedule={schedule!r},
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["seqline"],
) as dag:
    tasks = {{
        stage: BashOperator(
            task_id=stage,
            bash_command=f"{{SEQLINE}} run {{CONFIG}} --from {{stage}} --until {{stage}} --wait",
        )
        for stage in STAGES
    }}
    for stage, before in UPSTREAM.items():
        for other in before:
            tasks[other] >> tasks[stage]
'''


def seqline_command() -> str:
    """How this installation runs seqline: the console script if on PATH, else the module."""
    found = shutil.which("seqline")
    if found:
        return found
    return f"{shlex.quote(sys.executable)} -m seqline"


def dag_file(cfg: dict, config_path: str, schedule: str | None) -> str:
    """The text of the DAG file for a validated config."""
    order = build_dag()
    names = [m.SPEC.name for m in order]
    graph = dependencies({m.SPEC.name: m for m in order})
    upstream = {name: sorted(graph[name], key=names.index) for name in names if graph[name]}
    dag_id = "seqline_" + "".join(c if c.isalnum() or c in "-_." else "_" for c in cfg["name"])
    return TEMPLATE.format(name=cfg["name"], seqline=seqline_command(),
                           config=shlex.quote(os.path.abspath(config_path)), stages=names,
                           upstream=upstream,
                           dag_id=dag_id, schedule=schedule)
