"""Execution folders under the pipeline root: ``<pipeline_root>/<Component>/<id>/``.

An execution is complete exactly when its ``execution.json`` exists: the runner writes it last,
inside a temporary folder (``.<id>.tmp-<pid>``) that is renamed into place. Anything else (a
temporary folder of a killed run, ``failed-*`` folders kept for inspection) is never read back.
"""
from __future__ import annotations

import json
import os
import shutil

EXECUTION_FILE = "execution.json"
TMP_MARK = ".tmp-"


def execution_ids(component_dir: str) -> list:
    """Numeric execution ids in a component folder, ascending (complete or not)."""
    if not os.path.isdir(component_dir):
        return []
    return sorted(int(d) for d in os.listdir(component_dir) if d.isdigit())


def complete(pipeline_root: str, component: str) -> list:
    """Folders of ``component``'s complete executions, newest first."""
    component_dir = os.path.join(pipeline_root, component)
    folders = [os.path.join(component_dir, str(i)) for i in reversed(execution_ids(component_dir))]
    return [f for f in folders if os.path.isfile(os.path.join(f, EXECUTION_FILE))]


def latest_execution(pipeline_root: str, component: str) -> str | None:
    """The folder of ``component``'s newest complete execution, or ``None``."""
    found = complete(pipeline_root, component)
    return found[0] if found else None


def read_record(folder: str) -> dict:
    with open(os.path.join(folder, EXECUTION_FILE), encoding="utf-8") as fh:
        return json.load(fh)


def find_cached(pipeline_root: str, component: str, fingerprint: str) -> str | None:
    """The newest complete execution of ``component`` with ``fingerprint``, or ``None``."""
    for folder in complete(pipeline_root, component):
        try:
            if read_record(folder).get("fingerprint") == fingerprint:
                return folder
        except (OSError, ValueError):
            continue
    return None


def remove_stale_temporaries(pipeline_root: str) -> list:
    """Delete temporary execution folders left by killed runs (call while holding the lock)."""
    removed = []
    if not os.path.isdir(pipeline_root):
        return removed
    for component in os.listdir(pipeline_root):
        component_dir = os.path.join(pipeline_root, component)
        if component.startswith(".") or not os.path.isdir(component_dir):
            continue
        for name in os.listdir(component_dir):
            if name.startswith(".") and TMP_MARK in name:
                shutil.rmtree(os.path.join(component_dir, name), ignore_errors=True)
                removed.append(os.path.join(component, name))
    return removed
