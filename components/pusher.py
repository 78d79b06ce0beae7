"""Pusher: exports a blessed model for serving and registers it in MLflow.

Writes ``<serving_dir>/<model_name>/<version>/`` (TensorFlow Serving layout; ``serving_default``
takes raw windows) through a temporary folder and a rename, then registers it in the MLflow Model
Registry with the alias ``champion``. An unblessed model is not pushed.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

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
    return {**cfg["pusher"], "pipeline": cfg["name"]}


def execute(inputs, outputs, params, ctx) -> dict:
    import mlflow

    from components import serving_export
    from components.mlflow_pyfunc import log_and_register

    pushed = outputs["pushed_model"]
    os.makedirs(pushed.uri, exist_ok=True)
    if not inputs["blessing"].properties["blessed"]:
        ctx.echo("model not blessed: nothing pushed")
        pushed.properties.update(pushed=False)
        return {"pushed": False}
    model_dir = os.path.join(params["serving_dir"], params["model_name"])
    version = (serving_export.versions(model_dir) or [0])[-1] + 1
    final = os.path.join(model_dir, str(version))
    tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with open(inputs["transform_graph"].path("params.json"), encoding="utf-8") as fh:
        transform = json.load(fh)
    props = inputs["transformed_examples"].properties
    metadata = {"model_name": params["model_name"], "version": version, "task": "forecast",
                "inputs": {"window": {"dtype": "float32", "shape": [-1, props["lookback"], props["n_features"]],
                                      "columns": transform["feature_columns"]}},
                "outputs": {"forecast": {"dtype": "float32", "shape": [-1, props["horizon"]],
                                         "column": transform["target_column"]}},
                "metrics": inputs["evaluation"].properties["metrics"],
                "source_model": inputs["model"].uri}
    registered = None
    try:
        serving_export.export(inputs["transform_graph"].path("graph"), inputs["model"].path("model.keras"),
                              props, tmp, metadata)
        if params["register"] and mlflow.active_run() is not None:
            example = _example_window(inputs["transformed_examples"], props)
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


def _example_window(examples, props) -> np.ndarray:
    """A one-window input example taken from the test split."""
    from components.example_codec import split_pattern
    from components.window_dataset import make_dataset

    _, _, raw = next(iter(make_dataset(split_pattern(examples.uri, "test"), props, 1, with_raw=True)))
    return raw["window"].numpy()
