"""Runs the DAG: one execution folder per component, one MLflow run per pipeline and stage.

Layout: ``<pipeline_root>/<Component>/<execution id>/<output name>/``. Each execution is written
under ``.<id>.tmp-<pid>`` and renamed into place after every output and ``execution.json`` exist.

Caching: before running a component the runner computes its fingerprint (code version,
parameters, input fingerprints: :mod:`seqline.pipeline.fingerprint`); the newest complete execution with
the same fingerprint is reused instead (``use_cache=False`` forces a rerun). Only one run at a time
holds a pipeline root (:mod:`seqline.pipeline.lock`).
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field

from seqline.pipeline import backtest, distribution, fingerprint, logs, tracking
from seqline.pipeline.artifacts import Artifact, write_json_atomic
from seqline.pipeline.component import Context
from seqline.pipeline.dag import build_dag, component_names, select_stages
from seqline.pipeline.errors import ConfigError, SeqlineError
from seqline.pipeline.executions import (EXECUTION_FILE, execution_ids, find_cached,
                                         latest_execution, read_record, remove_stale_temporaries)
from seqline.pipeline.lock import pipeline_lock
from seqline.pipeline.progress import Progress

__all__ = ["PipelineResult", "latest_execution", "run_pipeline"]

_LIBRARIES = ("apache_beam", "keras", "mlflow", "tensorflow")
_frozen: set = set()   # those of _LIBRARIES loaded at the last gc.freeze()


@dataclass
class PipelineResult:
    """What a pipeline run produced: artifacts by ``(component, output)``, stage metrics, stage
    wall times in seconds (``seconds[component]``) and the stages reused from the cache."""

    run_id: str
    artifacts: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    reused: list = field(default_factory=list)


@dataclass
class _Stage:
    """One component about to run: its module, inputs, parameters and cache key."""

    module: object
    inputs: dict
    params: dict
    code: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.module.SPEC.name


def _load_outputs(pipeline_root: str, module) -> dict:
    name = module.SPEC.name
    folder = latest_execution(pipeline_root, name)
    if folder is None:
        raise ConfigError(f"--from: no completed {name} run in {pipeline_root}; run it first")
    return {out: Artifact.load(os.path.join(folder, out)) for out in module.SPEC.outputs}


def _cache_inputs(module, params: dict, inputs: dict) -> dict:
    """What the fingerprint covers besides code and parameters: the input artifacts'
    fingerprints, or what the component declares with ``cache_inputs(params, inputs)``."""
    if hasattr(module, "cache_inputs"):
        return module.cache_inputs(params, inputs)
    return {name: artifact.fingerprint or fingerprint.of_folder(artifact.uri, artifact.properties)
            for name, artifact in inputs.items()}


def _prepare(module, cfg: dict, produced: dict) -> _Stage:
    spec = module.SPEC
    inputs = {name: produced[(producer, out)] for name, (_, producer, out) in spec.inputs.items()
              if name not in spec.optional_inputs or (producer, out) in produced}
    if hasattr(module, "resolve_inputs"):   # artifacts found in the pipeline's history
        inputs.update(module.resolve_inputs(cfg["pipeline_root"], inputs))
    params = module.parameters(cfg)
    code = fingerprint.code_version(module.__name__, cfg["task"])
    key = fingerprint.of_execution(code, params, _cache_inputs(module, params, inputs))
    return _Stage(module, inputs, params, code, key)


def _execute(stage: _Stage, cfg: dict, ctx: Context, parent_run_id: str) -> tuple:
    """Run one component into a temporary folder, then rename it into place."""
    spec, module = stage.module.SPEC, stage.module
    component_dir = os.path.join(cfg["pipeline_root"], spec.name)
    os.makedirs(component_dir, exist_ok=True)
    exec_id = str((execution_ids(component_dir) or [0])[-1] + 1)
    final = os.path.join(component_dir, exec_id)
    tmp = os.path.join(component_dir, f".{exec_id}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    outputs = {name: Artifact(kind, os.path.join(tmp, name), producer=spec.name, execution_id=exec_id)
               for name, kind in spec.outputs.items()}
    try:
        metrics = module.execute(stage.inputs, outputs, stage.params, ctx) or {}
        for artifact in outputs.values():
            os.makedirs(artifact.uri, exist_ok=True)
            artifact.fingerprint = fingerprint.of_folder(artifact.uri, artifact.properties)
            artifact.save()
        # What a later run will compute for the same state (a component may create the files it
        # is keyed on, as SchemaGen does with the user's schema file).
        cache_inputs = _cache_inputs(module, stage.params, stage.inputs)
        record = {
            "component": spec.name, "execution_id": exec_id, "pipeline_run_id": parent_run_id,
            "fingerprint": fingerprint.of_execution(stage.code, stage.params, cache_inputs),
            "code_version": stage.code, "cache_inputs": cache_inputs,
            "inputs": {k: os.path.abspath(a.uri) for k, a in stage.inputs.items()},
            "input_fingerprints": {k: a.fingerprint for k, a in stage.inputs.items()},
            "outputs": {k: os.path.join(final, k) for k in outputs},
            "output_fingerprints": {k: a.fingerprint for k, a in outputs.items()},
            "parameters": stage.params, "metrics": metrics, "finished": time.time(),
        }
        write_json_atomic(os.path.join(tmp, EXECUTION_FILE), record, sort_keys=False)
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
    return outputs, metrics


def _reuse(folder: str, module) -> tuple:
    """The outputs and metrics of the complete execution in ``folder``."""
    record = read_record(folder)
    outputs = {out: Artifact.load(os.path.join(folder, out)) for out in module.SPEC.outputs}
    return outputs, record.get("metrics", {}), record


def run_pipeline(cfg: dict, *, start: str | None = None, until: str | None = None,
                 beam_args: list | None = None, quiet: bool = False, use_cache: bool = True,
                 wait: bool = False) -> PipelineResult:
    """Run the pipeline described by a validated config; return what it produced.

    Holds the pipeline root's lock for the whole run (``wait``: block until it is free instead of
    raising :class:`seqline.pipeline.lock.PipelineBusy`).
    """
    order = build_dag(component_names(cfg))
    stages = select_stages(order, start, until)
    progress = Progress(len(stages), quiet=quiet)
    with logs.shown_on(progress.console, indent="    "):     # messages under their stage
        return _run_pipeline(cfg, order, stages, progress, list(beam_args or []), use_cache, wait)


def _run_pipeline(cfg, order, stages, progress, beam_args, use_cache, wait) -> PipelineResult:
    root = cfg["pipeline_root"]
    worker = distribution.cluster()
    if not worker["chief"]:
        return _run_as_worker(cfg, order, stages, worker, progress, beam_args)
    with pipeline_lock(root, wait=wait, echo=progress.echo):
        for leftover in remove_stale_temporaries(root):
            progress.echo(f"removed {leftover}, left by an interrupted run")
        result = _run_locked(cfg, order, stages, progress, beam_args, use_cache)
        if "Evaluator" in stages and cfg["evaluation"].get("backtest", {}).get("folds"):
            backtest.run(cfg, result, run_pipeline, progress.echo, beam_args=beam_args,
                         use_cache=use_cache)
        return result


def _freeze_library_objects() -> None:
    """Exempt TensorFlow, Keras, Beam and MLflow from Python's cyclic garbage collector once each
    is imported (called between stages: a stage imports what it needs, a reused one nothing).
    Otherwise every full collection walks their million-odd objects, about 0.4 s each and two or
    three per run of the stock example. ``gc.freeze`` also keeps whatever garbage is alive at
    that moment, so it runs at most once per newly imported library; objects created later are
    collected as usual."""
    loaded = {name for name in _LIBRARIES if name in sys.modules}
    if loaded - _frozen:
        gc.freeze()
        _frozen.update(loaded)


def _run_locked(cfg, order, stages, progress, beam_args, use_cache) -> PipelineResult:
    root = cfg["pipeline_root"]
    produced: dict = {}
    for module in order:
        if module.SPEC.name in stages:
            break
        for out, artifact in _load_outputs(root, module).items():
            produced[(module.SPEC.name, out)] = artifact
    mlflow = tracking.setup(cfg["mlflow"]["experiment"])
    for run_id in tracking.close_abandoned_runs(mlflow, cfg["mlflow"]["experiment"], root):
        progress.echo(f"marked MLflow run {run_id} KILLED: its process was killed")
    owner = {"seqline.pipeline": cfg["name"], **tracking.owner_tags(root)}
    with mlflow.start_run(run_name=cfg["name"], tags=owner) as parent:
        result = PipelineResult(parent.info.run_id)
        mlflow.log_params({"task": cfg["task"], "model.type": cfg["model"]["type"],
                           "stages": ",".join(stages), "cache": use_cache})
        mlflow.log_dict(cfg, "config.json")
        for index, module in enumerate([m for m in order if m.SPEC.name in stages], 1):
            _freeze_library_objects()
            spec = module.SPEC
            progress.start(index, spec.name, spec.description)
            started = time.time()
            try:
                stage = _prepare(module, cfg, produced)
            except SeqlineError as exc:
                progress.failed(spec.name, time.time() - started, str(exc))
                progress.summary(f"seqline run {cfg['name']}: failed at {spec.name}")
                raise
            cached = find_cached(root, spec.name, stage.fingerprint) if use_cache else None
            tags = {"seqline.component": spec.name, "seqline.fingerprint": stage.fingerprint,
                    "seqline.code_version": stage.code,
                    "seqline.cache": "reused" if cached else ("miss" if use_cache else "disabled"),
                    "seqline.inputs": json.dumps({k: a.uri for k, a in stage.inputs.items()}),
                    "seqline.input_fingerprints": json.dumps(
                        {k: a.fingerprint for k, a in stage.inputs.items()})}
            with tracking.stage_run(mlflow, spec.name, tags) as run:
                if cached:
                    outputs, metrics, record = _reuse(cached, module)
                    mlflow.set_tags({"seqline.reused_execution": cached,
                                     "seqline.reused_from_run": record.get("pipeline_run_id", "")})
                    result.reused.append(spec.name)
                else:
                    ctx = Context(beam_args=beam_args, log_metrics=run.log_metrics,
                                  log_params=run.log_params, log_file=run.log_file,
                                  log_text=run.log_text, echo=progress.echo,
                                  state_dir=os.path.join(root, ".state", spec.name),
                                  fingerprint=stage.fingerprint)
                    try:
                        with progress.watch(spec.name):
                            outputs, metrics = _execute(stage, cfg, ctx, result.run_id)
                    except SeqlineError as exc:
                        progress.failed(spec.name, time.time() - started, str(exc))
                        progress.summary(f"seqline run {cfg['name']}: failed at {spec.name}")
                        raise
                run.log_params(stage.params)
                run.log_metrics({k: v for k, v in metrics.items() if _is_number(v)})
                mlflow.set_tags({"seqline.outputs": json.dumps({k: a.uri for k, a in outputs.items()}),
                                 "seqline.output_fingerprints": json.dumps(
                                     {k: a.fingerprint for k, a in outputs.items()})})
            for name, artifact in outputs.items():
                produced[(spec.name, name)] = artifact
                result.artifacts[(spec.name, name)] = artifact
            result.metrics[spec.name] = metrics
            result.seconds[spec.name] = time.time() - started
            where = os.path.relpath(os.path.dirname(next(iter(outputs.values())).uri))
            progress.done(spec.name, result.seconds[spec.name], metrics, where,
                          status="reused" if cached else "done")
        if result.reused:
            mlflow.set_tag("seqline.reused", ",".join(result.reused))
        progress.summary(f"seqline run {cfg['name']} (MLflow run {result.run_id[:8]}"
                         f"{f', {len(result.reused)} of {len(stages)} stages reused' if result.reused else ''})")
    return result


def _run_as_worker(cfg, order, stages, worker, progress, beam_args) -> PipelineResult:
    """A non-chief worker of a multi-worker Trainer: trains in step with the chief, without the
    lock, MLflow or an execution; keeps its model in ``.state/Trainer/worker-<index>/``."""
    if stages != ["Trainer"]:
        raise ConfigError("TF_CONFIG names this process a non-chief worker: it runs only the "
                          "Trainer (add --from Trainer --until Trainer)")
    produced = {}
    for module in order[:[m.SPEC.name for m in order].index("Trainer")]:
        for out, artifact in _load_outputs(cfg["pipeline_root"], module).items():
            produced[(module.SPEC.name, out)] = artifact
    module = next(m for m in order if m.SPEC.name == "Trainer")
    stage = _prepare(module, cfg, produced)
    state = os.path.join(cfg["pipeline_root"], ".state", "Trainer", f"worker-{worker['index']}")
    outputs = {name: Artifact(kind, os.path.join(state, name), producer="Trainer")
               for name, kind in module.SPEC.outputs.items()}
    for artifact in outputs.values():
        shutil.rmtree(artifact.uri, ignore_errors=True)
    progress.start(1, f"Trainer (worker {worker['index']} of {worker['size']})",
                   module.SPEC.description)
    started = time.time()
    ctx = Context(beam_args=beam_args, echo=progress.echo, state_dir=state,
                  fingerprint=stage.fingerprint)
    metrics = module.execute(stage.inputs, outputs, stage.params, ctx) or {}
    for artifact in outputs.values():
        artifact.save()
    progress.done("Trainer", time.time() - started, metrics, os.path.relpath(state))
    result = PipelineResult(run_id="")
    result.artifacts.update({("Trainer", name): a for name, a in outputs.items()})
    result.metrics["Trainer"] = metrics
    return result


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
