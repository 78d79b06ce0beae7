"""ExampleGen: raw data -> split TFRecords (Examples), bad records -> Quarantine.

How the data is read and split is the task's: time-ordered CSV for forecasting, for instance.
Every bad record lands in ``quarantine.csv`` with its file, row and reason.
"""
from __future__ import annotations

from components.tasks import get_task
from pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="ExampleGen",
    inputs={},
    outputs={"examples": "Examples", "quarantine": "Quarantine"},
    description="read raw data, quarantine bad records, split",
)


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], **cfg["data"]}


def execute(inputs, outputs, params, ctx) -> dict:
    task = get_task(params["task"])
    return task.example_gen(params, outputs["examples"], outputs["quarantine"], ctx)
