"""Runs the DAG: one execution folder per component, one MLflow run per pipeline and stage.

Layout: ``<pipeline_root>/<Component>/<execution id>/<output name>/``. Each execution is written
under ``.<id>.tmp-<pid>`` and renamed into place after every output and ``execution.json`` exist.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field

from pipeline import tracking
from pipeline.artifacts import Artifact, write_json_atomic
from pipeline.component import Context
from pipeline.dag import build_dag, component_names, select_stages
from pipeline.errors import ConfigError, SeqlineError
from pipeline.progress import Progress

EXECUTION_FILE = "execution.json"


@dataclass
class PipelineResult:
    """What a pipeline run produced: artifacts by ``(component, output)``, stage metrics and
    stage wall times in seconds (``seconds[component]``)."""

    run_id: str
    artifacts: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _execution_ids(component_dir: str) -> list:
    if not os.path.isdir(component_dir):
        return []
    return sorted(int(d) for d in os.listdir(component_dir) if d.isdigit())


def latest_execution(pipeline_root: str, component: str) -> str | None:
    """The folder of ``component``'s newest complete execution, or ``None``."""
    component_dir = os.path.join(pipeline_root, component)
    for exec_id in reversed(_execution_ids(component_dir)):
        folder = os.path.join(component_dir, str(exec_id))
        if os.path.isfile(os.path.join(folder, EXECUTION_FILE)):
            return folder
    return None


def _load_outputs(pipeline_root: str, module) -> dict:
    name = module.SPEC.name
    folder = latest_execution(pipeline_root, name)
    if folder is None:
        raise ConfigError(f"--from: no completed {name} run in {pipeline_root}; run it first")
    return {out: Artifact.load(os.path.join(folder, out)) for out in module.SPEC.outputs}


def _execute(module, cfg: dict, inputs: dict, ctx: Context, parent_run_id: str) -> tuple:
    """Run one component into a temporary folder, then rename it into place."""
    spec = module.SPEC
    component_dir = os.path.join(cfg["pipeline_root"], spec.name)
    os.makedirs(component_dir, exist_ok=True)
    exec_id = str((_execution_ids(component_dir) or [0])[-1] + 1)
    final = os.path.join(component_dir, exec_id)
    tmp = os.path.join(component_dir, f".{exec_id}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    outputs = {name: Artifact(kind, os.path.join(tmp, name), producer=spec.name, execution_id=exec_id)
               for name, kind in spec.outputs.items()}
    params = module.parameters(cfg)
    try:
        metrics = module.execute(inputs, outputs, params, ctx) or {}
        for artifact in outputs.values():
            artifact.save()
        record = {
            "component": spec.name, "execution_id": exec_id, "pipeline_run_id": parent_run_id,
            "inputs": {k: _final_uri(a.uri) for k, a in inputs.items()},
            "outputs": {k: os.path.join(final, k) for k in outputs},
            "parameters": params, "metrics": metrics, "finished": time.time(),
        }
        write_json_atomic(os.path.join(tmp, EXECUTION_FILE), record)
        os.rename(tmp, final)
    except SeqlineError as exc:
        kept = os.path.join(component_dir, f"failed-{exec_id}-{int(time.time())}")
        if os.path.isdir(tmp):
            os.rename(tmp, kept)
            exc.args = (f"{exc} (partial outputs kept for inspection in {os.path.relpath(kept)})",)
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for name, artifact in outputs.items():
        artifact.uri = os.path.join(final, name)
    return outputs, metrics, params


def _final_uri(uri: str) -> str:
    return os.path.abspath(uri)


def run_pipeline(cfg: dict, *, start: str | None = None, until: str | None = None,
                 beam_args: list | None = None, quiet: bool = False) -> PipelineResult:
    """Run the pipeline described by a validated config; return what it produced."""
    order = build_dag(component_names(cfg))
    stages = select_stages(order, start, until)
    progress = Progress(len(stages), quiet=quiet)
    mlflow = tracking.setup(cfg["mlflow"]["experiment"])
    produced: dict = {}
    for module in order:
        if module.SPEC.name in stages:
            break
        for out, artifact in _load_outputs(cfg["pipeline_root"], module).items():
            produced[(module.SPEC.name, out)] = artifact
    with mlflow.start_run(run_name=cfg["name"], tags={"seqline.pipeline": cfg["name"]}) as parent:
        result = PipelineResult(parent.info.run_id)
        mlflow.log_params({"task": cfg["task"], "model.type": cfg["model"]["type"],
                           "stages": ",".join(stages)})
        mlflow.log_dict(cfg, "config.json")
        for index, module in enumerate([m for m in order if m.SPEC.name in stages], 1):
            spec = module.SPEC
            inputs = {name: produced[(producer, out)]
                      for name, (_, producer, out) in spec.inputs.items()
                      if name not in spec.optional_inputs or (producer, out) in produced}
            progress.start(index, spec.name, spec.description)
            tags = {"seqline.component": spec.name,
                    "seqline.inputs": json.dumps({k: a.uri for k, a in inputs.items()})}
            started = time.time()
            with tracking.stage_run(mlflow, spec.name, tags) as stage:
                ctx = Context(beam_args=list(beam_args or []), log_metrics=stage.log_metrics,
                              log_params=stage.log_params, log_file=stage.log_file,
                              log_text=stage.log_text, echo=progress.echo,
                              state_dir=os.path.join(cfg["pipeline_root"], ".state", spec.name))
                try:
                    outputs, metrics, params = _execute(module, cfg, inputs, ctx, result.run_id)
                except SeqlineError as exc:
                    progress.failed(spec.name, time.time() - started, str(exc))
                    progress.summary(f"seqline run {cfg['name']}: failed at {spec.name}")
                    raise
                stage.log_params(params)
                stage.log_metrics({k: v for k, v in metrics.items() if _is_number(v)})
                mlflow.set_tag("seqline.outputs", json.dumps({k: a.uri for k, a in outputs.items()}))
            for name, artifact in outputs.items():
                produced[(spec.name, name)] = artifact
                result.artifacts[(spec.name, name)] = artifact
            result.metrics[spec.name] = metrics
            result.seconds[spec.name] = time.time() - started
            where = os.path.relpath(os.path.dirname(next(iter(outputs.values())).uri))
            progress.done(spec.name, result.seconds[spec.name], metrics, where)
        progress.summary(f"seqline run {cfg['name']} (MLflow run {result.run_id[:8]})")
    return result


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
