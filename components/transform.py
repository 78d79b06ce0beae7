"""Transform: full-pass analyzers on the train split, the transformed examples, and the
transform graph (a SavedModel the exported model embeds, so serving takes raw input)."""
from __future__ import annotations

from seqline.components.tasks import get_task
from seqline.pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="Transform",
    inputs={"examples": ("Examples", "ExampleGen", "examples")},
    outputs={"transform_graph": "TransformGraph", "transformed_examples": "TransformedExamples"},
    description="analyze the train split, transform, export the transform graph",
)


def parameters(cfg: dict) -> dict:
    params = {"task": cfg["task"], "target_column": cfg["data"].get("target_column"),
              **cfg["transform"]}
    if cfg["task"] == "forecast":
        from seqline.pipeline.task_configs import seasonal_period

        params["seasonal_period"] = seasonal_period(cfg)[0]
        params["reference"] = cfg["evaluation"]["reference"]
        params["quantiles"] = cfg["model"]["quantiles"]
    return params


def execute(inputs, outputs, params, ctx) -> dict:
    task = get_task(params["task"])
    return task.transform(params, inputs["examples"], outputs["transform_graph"],
                          outputs["transformed_examples"], ctx)
