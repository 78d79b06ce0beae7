"""Evaluator: the task's metrics on the test split, next to its baselines and the current
champion (re-scored on the same data), and the blessing that gates the Pusher.

Outputs
    evaluation: the task's report (``metrics.json``, plots, predictions).
    blessing: ``blessing.json`` with ``blessed`` and the reasons.
"""
from __future__ import annotations

import json
import os

from seqline.components.tasks import get_task
from seqline.pipeline import fingerprint
from seqline.pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="Evaluator",
    inputs={"transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph"),
            "model": ("Model", "Trainer", "model")},
    outputs={"evaluation": "Evaluation", "blessing": "Blessing"},
    description="score the test split against baselines and the champion; bless",
)


def parameters(cfg: dict) -> dict:
    params = {"task": cfg["task"], **cfg["evaluation"],
              "champion_dir": os.path.join(cfg["pusher"]["serving_dir"],
                                           cfg["pusher"]["model_name"])}
    if cfg["task"] == "forecast":
        from seqline.pipeline.task_configs import seasonal_period

        params["seasonal_period"], params["seasonal_period_source"] = seasonal_period(cfg)
    return params


def cache_inputs(params: dict, inputs: dict) -> dict:
    """The input artifacts and the champion compared with: a champion other than this very
    model (newly pushed by another run) invalidates an earlier evaluation."""
    from seqline.components import serving_export

    found = serving_export.versions(params["champion_dir"])
    champion = None
    if found:
        path = os.path.join(params["champion_dir"], str(found[-1]))
        source = serving_export.read_metadata(path).get("source_model")
        champion = None if source == inputs["model"].uri else found[-1]
    return {**{name: a.fingerprint or fingerprint.of_folder(a.uri, a.properties)
               for name, a in inputs.items()},
            "champion_version": champion}


def execute(inputs, outputs, params, ctx) -> dict:
    task = get_task(params["task"])
    evaluation, blessing = outputs["evaluation"], outputs["blessing"]
    metrics, blessed, reasons = task.evaluate(
        params, inputs["transformed_examples"], inputs["transform_graph"],
        inputs["model"].path("model.keras"), evaluation, ctx)
    ctx.echo(f"{'blessed' if blessed else 'not blessed'}: " + "; ".join(reasons))
    os.makedirs(blessing.uri, exist_ok=True)
    with open(blessing.path("blessing.json"), "w", encoding="utf-8") as fh:
        json.dump({"blessed": blessed, "reasons": reasons}, fh, indent=2)
    blessing.properties.update(blessed=blessed, reasons=reasons)
    return {**metrics, "blessed": blessed}
