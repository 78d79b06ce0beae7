"""The pipeline DAG: components wired by their specs, in a topological order."""
from __future__ import annotations

import importlib
from graphlib import TopologicalSorter

from seqline.pipeline.errors import ConfigError

COMPONENT_MODULES = {
    "ExampleGen": "seqline.components.example_gen",
    "StatisticsGen": "seqline.components.statistics_gen",
    "SchemaGen": "seqline.components.schema_gen",
    "ExampleValidator": "seqline.components.example_validator",
    "Transform": "seqline.components.transform",
    "Tuner": "seqline.components.tuner",
    "Trainer": "seqline.components.trainer",
    "Evaluator": "seqline.components.evaluator",
    "Compressor": "seqline.components.compressor",
    "Pusher": "seqline.components.pusher",
}
# Optional components: in the pipeline only when the config turns them on.
OPTIONAL_COMPONENTS = {"Tuner": lambda cfg: cfg.get("tuning") is not None}
DEFAULT_STAGES = tuple(n for n in COMPONENT_MODULES if n not in OPTIONAL_COMPONENTS)


def component_names(cfg: dict) -> tuple:
    """The components of the pipeline ``cfg`` describes: every required one, and each optional
    one that its config section turns on."""
    return tuple(name for name in COMPONENT_MODULES
                 if name not in OPTIONAL_COMPONENTS or OPTIONAL_COMPONENTS[name](cfg))


# Order without data: a component runs only after these (validation gates the Transform, so
# anomalies stop a run before training) though it does not read their outputs.
RUNS_AFTER = {"Transform": ("ExampleValidator",)}


def load_component(name: str):
    """The module of component ``name`` (it defines SPEC, parameters and execute)."""
    return importlib.import_module(COMPONENT_MODULES[name])


def dependencies(modules: dict) -> dict:
    """``{name: names of the components it runs after}``: its inputs' producers (an optional
    input's only if it is part of ``modules``), plus :data:`RUNS_AFTER` where those are."""
    graph = {}
    for name, module in modules.items():
        producers = {producer for input_name, (_, producer, _) in module.SPEC.inputs.items()
                     if producer in modules or input_name not in module.SPEC.optional_inputs}
        missing = producers - set(modules)
        if missing:
            raise ConfigError(f"component {name} needs {', '.join(sorted(missing))}")
        graph[name] = producers | {g for g in RUNS_AFTER.get(name, ()) if g in modules}
    return graph


def build_dag(names=DEFAULT_STAGES) -> list:
    """Component modules in an order where every producer runs before its consumers; an
    optional input whose producer is not among ``names`` is left out."""
    modules = {name: load_component(name) for name in names}
    return [modules[n] for n in TopologicalSorter(dependencies(modules)).static_order()]


def select_stages(order: list, start: str | None, until: str | None) -> list:
    """Names of the stages to execute for ``--from start`` / ``--until until``."""
    names = [m.SPEC.name for m in order]
    for flag, stage in (("--from", start), ("--until", until)):
        if stage is not None and stage not in names:
            raise ConfigError(f"{flag}: unknown stage '{stage}' (stages: {', '.join(names)})")
    first = names.index(start) if start else 0
    last = names.index(until) if until else len(names) - 1
    if first > last:
        raise ConfigError(f"--from {start} comes after --until {until}")
    return names[first:last + 1]
