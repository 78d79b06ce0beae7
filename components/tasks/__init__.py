"""Task plug-ins: one per sequence task, each supplying data adapter, head, loss, metrics,
baselines and serving signature to the standard stages."""
from __future__ import annotations

import importlib

from seqline.components.tasks.base import Task

TASK_CLASSES = {
    "forecast": "seqline.components.tasks.forecast.task:ForecastTask",
    "generate": "seqline.components.tasks.text.task:GenerateTask",
    "asr": "seqline.components.tasks.speech.task:AsrTask",
    "classify": "seqline.components.tasks.sequence.classify:ClassifyTask",
    "label": "seqline.components.tasks.sequence.label:LabelTask",
}


def get_task(name: str) -> Task:
    """The plug-in of task ``name``."""
    if name not in TASK_CLASSES:
        raise ValueError(f"task must be one of {', '.join(TASK_CLASSES)}, got {name!r}")
    module, cls = TASK_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)()
