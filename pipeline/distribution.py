"""Multi-worker training: the cluster described by ``TF_CONFIG`` (without importing TensorFlow).

Each machine runs ``seqline run CONFIG --from Trainer --until Trainer`` with its ``TF_CONFIG``:
worker 0 (or the ``chief``) is a normal run that holds the lock, logs to MLflow and commits the
Trainer's execution; every other worker trains in step with it (``MultiWorkerMirroredStrategy``)
and keeps its copy of the model under ``<pipeline_root>/.state/Trainer/worker-<index>/``.
"""
from __future__ import annotations

import json
import os

from seqline.pipeline.errors import ConfigError


def cluster() -> dict:
    """``{"size": number of training processes, "index": this one's, "chief": bool}``; size 1
    without ``TF_CONFIG``."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {"size": 1, "index": 0, "chief": True}
    try:
        spec = json.loads(raw)
        members = spec["cluster"]
        task = spec["task"]
        size = len(members.get("chief", [])) + len(members.get("worker", []))
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"TF_CONFIG: expected {{'cluster': {{'worker': [...]}}, 'task': "
                          f"{{'type': 'worker', 'index': 0}}}} ({exc})") from None
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in members)
    position = index + (len(members.get("chief", [])) if kind == "worker" else 0)
    return {"size": size, "index": position, "chief": chief}
