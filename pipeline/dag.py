"""The pipeline DAG: components wired by their specs, in a topological order."""
from __future__ import annotations

import importlib
from graphlib import TopologicalSorter

from pipeline.errors import ConfigError

COMPONENT_MODULES = {
    "ExampleGen": "components.example_gen",
    "Transform": "components.transform",
    "Trainer": "components.trainer",
    "Evaluator": "components.evaluator",
    "Compressor": "components.compressor",
    "Pusher": "components.pusher",
}


def load_component(name: str):
    """The module of component ``name`` (it defines SPEC, parameters and execute)."""
    return importlib.import_module(COMPONENT_MODULES[name])


def build_dag(names=tuple(COMPONENT_MODULES)) -> list:
    """Component modules in an order where every producer runs before its consumers."""
    modules = {name: load_component(name) for name in names}
    graph = {}
    for name, module in modules.items():
        producers = {producer for _, producer, _ in module.SPEC.inputs.values()}
        missing = producers - set(modules)
        if missing:
            raise ConfigError(f"component {name} needs {', '.join(sorted(missing))}")
        graph[name] = producers
    return [modules[n] for n in TopologicalSorter(graph).static_order()]


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
