"""ExampleGen: raw data -> split TFRecords (Examples), bad records -> Quarantine.

How the data is read and split is the task's: time-ordered CSV for forecasting, for instance.
Every bad record lands in ``quarantine.csv`` with its file, row and reason. With a span pattern in
``data.path`` (:mod:`seqline.pipeline.spans`) it reads the selected spans' files and records the spans in
the Examples' properties; the cache is keyed on the content of the files it reads.
"""
from __future__ import annotations

import glob

from seqline.components.tasks import get_task
from seqline.pipeline import fingerprint, spans
from seqline.pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="ExampleGen",
    inputs={},
    outputs={"examples": "Examples", "quarantine": "Quarantine"},
    description="read raw data, quarantine bad records, split",
)


def parameters(cfg: dict) -> dict:
    """The ``data`` section, plus the ``files`` (and ``selected_spans``) it resolves to now."""
    params = {"task": cfg["task"], **cfg["data"]}
    path = params.get("path")
    if path and spans.is_pattern(path):
        params["selected_spans"], params["files"] = spans.resolve(path, params.get("spans") or {})
    elif path:
        params["selected_spans"], params["files"] = None, sorted(glob.glob(path))
    return params


def cache_inputs(params: dict, inputs: dict) -> dict:
    """The content of every file read."""
    return {path: fingerprint.of_file(path) for path in params.get("files", [])}


def execute(inputs, outputs, params, ctx) -> dict:
    task = get_task(params["task"])
    metrics = task.example_gen(params, outputs["examples"], outputs["quarantine"], ctx)
    chosen = params.get("selected_spans")
    if chosen:
        outputs["examples"].properties["spans"] = chosen
        ctx.echo(f"read span{'s' if len(chosen) > 1 else ''} {', '.join(map(str, chosen))}")
    return metrics
