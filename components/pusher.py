"""Pusher: exports a blessed model for serving and registers it in MLflow.

Writes ``<serving_dir>/<model_name>/<version>/`` (TensorFlow Serving layout; ``serving_default``
takes raw input) through a temporary folder and a rename, after registering it in the MLflow
Model Registry with the alias ``champion``. An unblessed model is not pushed.
"""
from __future__ import annotations

import os
import shutil

from pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="Pusher",
    inputs={"model": ("Model", "Trainer", "model"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph"),
            "transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "evaluation": ("Evaluation", "Evaluator", "evaluation"),
            "blessing": ("Blessing", "Evaluator", "blessing")},
    outputs={"pushed_model": "PushedModel"},
    description="export the blessed model (SavedModel) and register it in MLflow",
)


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], **cfg["pusher"]}


def execute(inputs, outputs, params, ctx) -> dict:
    import mlflow

    from components import serving_export
    from components.mlflow_pyfunc import log_and_register
    from components.tasks import get_task

    pushed = outputs["pushed_model"]
    os.makedirs(pushed.uri, exist_ok=True)
    if not inputs["blessing"].properties["blessed"]:
        ctx.echo("model not blessed: nothing pushed")
        pushed.properties.update(pushed=False)
        return {"pushed": False}
    task = get_task(params["task"])
    model_dir = os.path.join(params["serving_dir"], params["model_name"])
    version = (serving_export.versions(model_dir) or [0])[-1] + 1
    final = os.path.join(model_dir, str(version))
    tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    registered = None
    try:
        spec = task.export(inputs["transform_graph"], inputs["model"].path("model.keras"),
                           inputs["transformed_examples"], tmp)
        serving_export.write_metadata(tmp, {
            "model_name": params["model_name"], "version": version, "task": params["task"], **spec,
            "metrics": inputs["evaluation"].properties["metrics"], "source_model": inputs["model"].uri})
        if params["register"] and mlflow.active_run() is not None:
            example = task.example_input(inputs["transformed_examples"])
            registered = log_and_register(tmp, params["model_name"], example)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.echo(f"exported version {version} to {final}")
    if registered:
        ctx.echo(f"registered {params['model_name']} version {registered} as @champion")
    pushed.properties.update(pushed=True, version=version, path=os.path.abspath(final),
                             registered_version=registered)
    return {"pushed": True, "version": version}
