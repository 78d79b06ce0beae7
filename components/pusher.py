"""Pusher: exports a blessed model for serving, registers it in MLflow, and exports the
variants the Compressor chose.

Writes ``<serving_dir>/<model_name>/<version>/`` (TensorFlow Serving layout; ``serving_default``
takes raw input; the float model, the default) after registering it in the MLflow Model Registry
with the alias ``champion``. Next to it, with the same version: the chosen ``gpu`` variant as
``<serving_dir>/<model_name>_gpu/<version>/`` (another SavedModel with the same signature) and the
chosen ``edge`` model as ``<edge_dir>/<model_name>/<version>/model.tflite`` plus
``metadata.json``. Every folder is written under a temporary name and renamed into place. An
unblessed model is not pushed. When the newest version already holds this very model (``seqline
compress`` after a run), that version is kept and only its variants are (re)written.
"""
from __future__ import annotations

import json
import os
import shutil

from seqline.pipeline.component import ComponentSpec
from seqline.pipeline.lock import pid_alive

SPEC = ComponentSpec(
    name="Pusher",
    inputs={"model": ("Model", "Trainer", "model"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph"),
            "transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "evaluation": ("Evaluation", "Evaluator", "evaluation"),
            "blessing": ("Blessing", "Evaluator", "blessing"),
            "compression": ("Compression", "Compressor", "compression")},
    outputs={"pushed_model": "PushedModel"},
    description="export the blessed model and the chosen variants; register it in MLflow",
)


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], **cfg["pusher"]}


def remove_dead_temporaries(parent: str, name: str) -> list:
    """Delete ``.tmp-<name>-<pid>`` / ``.old-<name>-<pid>`` folders in ``parent`` whose process
    is gone (a Pusher killed mid-export); returns what was removed."""
    removed = []
    for entry in os.listdir(parent) if os.path.isdir(parent) else ():
        for mark in (f".tmp-{name}-", f".old-{name}-"):
            pid = entry[len(mark):]
            if entry.startswith(mark) and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
                removed.append(os.path.join(parent, entry))
    return removed


def _replace_dir(build, final: str) -> None:
    """Write a folder with ``build(tmp)`` and rename it to ``final`` (replacing an old one)."""
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    remove_dead_temporaries(parent, os.path.basename(final))
    tmp = os.path.join(parent, f".tmp-{os.path.basename(final)}-{os.getpid()}")
    old = os.path.join(parent, f".old-{os.path.basename(final)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        build(tmp)
        if os.path.isdir(final):
            os.rename(final, old)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _existing_version(model_dir: str, model_uri: str) -> int | None:
    """The newest version under ``model_dir`` if it was exported from ``model_uri``."""
    from seqline.components import serving_export

    found = serving_export.versions(model_dir)
    if found:
        source = serving_export.read_metadata(os.path.join(model_dir, str(found[-1]))).get("source_model")
        if source and os.path.abspath(source) == os.path.abspath(model_uri):
            return found[-1]
    return None


def _export_float(inputs, params, task, version: int, final: str, ctx):
    """The float model as version ``version``, registered in MLflow; returns the registry version."""
    import mlflow

    from seqline.components import serving_export
    from seqline.components.mlflow_pyfunc import log_and_register

    registered = []

    def build(tmp):
        spec = task.export(inputs["transform_graph"], inputs["model"].path("model.keras"),
                           inputs["transformed_examples"], tmp)
        serving_export.write_metadata(tmp, {
            "model_name": params["model_name"], "version": version, "task": params["task"], **spec,
            "metrics": inputs["evaluation"].properties["metrics"], "source_model": inputs["model"].uri})
        if params["register"] and mlflow.active_run() is not None:
            example = task.example_input(inputs["transformed_examples"])
            registered.append(log_and_register(tmp, params["model_name"], example))

    _replace_dir(build, final)
    ctx.echo(f"exported version {version} to {final}")
    if registered:
        ctx.echo(f"registered {params['model_name']} version {registered[0]} as @champion")
    return registered[0] if registered else None


def _export_variants(compression, params, version: int, ctx) -> dict:
    """Copy the chosen variants next to the float model; return ``{target: path}``."""
    from seqline.components import serving_export

    exported = {}
    selection = compression.properties.get("selection", {})
    rows = {v["name"]: v for v in compression.properties.get("variants", [])}
    gpu = (selection.get("gpu") or {}).get("variant")
    if gpu:
        final = os.path.join(params["serving_dir"], f"{params['model_name']}_gpu", str(version))

        def build_gpu(tmp):
            shutil.copytree(compression.path(rows[gpu]["path"]), tmp)
            meta = serving_export.read_metadata(tmp)
            serving_export.write_metadata(tmp, {
                **meta, "model_name": f"{params['model_name']}_gpu", "version": version,
                "variant": gpu, "float_model": params["model_name"],
                "selection": selection["gpu"], "metrics": rows[gpu]["metrics"]})

        _replace_dir(build_gpu, final)
        exported["gpu"] = final
        ctx.echo(f"exported the gpu variant {gpu} to {final}")
    edge = (selection.get("edge") or {}).get("variant")
    if edge:
        final = os.path.join(params["edge_dir"], params["model_name"], str(version))

        def build_edge(tmp):
            os.makedirs(tmp)
            shutil.copyfile(compression.path(rows[edge]["path"]), os.path.join(tmp, "model.tflite"))
            with open(compression.path("edge_metadata.json"), encoding="utf-8") as fh:
                meta = json.load(fh)
            with open(os.path.join(tmp, "metadata.json"), "w", encoding="utf-8") as fh:
                json.dump({"model_name": params["model_name"], "version": version,
                           "task": params["task"], **meta}, fh, indent=2)

        _replace_dir(build_edge, final)
        exported["edge"] = final
        ctx.echo(f"exported the edge variant {edge} to {final}")
    return exported


def execute(inputs, outputs, params, ctx) -> dict:
    from seqline.components import serving_export
    from seqline.components.tasks import get_task

    pushed = outputs["pushed_model"]
    os.makedirs(pushed.uri, exist_ok=True)
    if not inputs["blessing"].properties["blessed"]:
        ctx.echo("model not blessed: nothing pushed")
        pushed.properties.update(pushed=False)
        return {"pushed": False}
    task = get_task(params["task"])
    model_dir = os.path.join(params["serving_dir"], params["model_name"])
    registered = None
    version = _existing_version(model_dir, inputs["model"].uri)
    if version is None:
        version = (serving_export.versions(model_dir) or [0])[-1] + 1
        registered = _export_float(inputs, params, task, version,
                                   os.path.join(model_dir, str(version)), ctx)
    else:
        ctx.echo(f"version {version} already holds this model: exporting its variants only")
    variants = _export_variants(inputs["compression"], params, version, ctx)
    final = os.path.join(model_dir, str(version))
    pushed.properties.update(pushed=True, version=version, path=os.path.abspath(final),
                             registered_version=registered, variants=variants)
    return {"pushed": True, "version": version, "variants": len(variants)}
