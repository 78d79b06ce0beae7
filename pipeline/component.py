"""Component = spec + executor, as in TFX.

A component module defines ``SPEC`` (a :class:`ComponentSpec`), ``parameters(cfg)`` (the slice of the
config it uses) and ``execute(inputs, outputs, params, ctx)``. The executor is a plain function:
tests call it directly with artifacts and a :class:`Context`, without the runner.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class ComponentSpec:
    """What a component consumes and produces.

    ``inputs`` maps input name -> ``(artifact type, producing component, its output name)``;
    ``outputs`` maps output name -> artifact type. An input in ``optional_inputs`` is absent when
    its producer is not in the pipeline (an optional component such as the Tuner).
    """

    name: str
    inputs: dict
    outputs: dict
    description: str = ""
    optional_inputs: tuple = ()


@dataclass
class Context:
    """What an executor may use besides its artifacts: logging hooks, Beam options, a state
    folder that survives a crash (``state_dir``) and the execution's cache ``fingerprint``."""

    beam_args: list = field(default_factory=list)
    log_metrics: Callable[..., None] = lambda metrics, step=None: None
    log_params: Callable[[dict], None] = lambda params: None
    log_file: Callable[[str], None] = lambda path: None
    log_text: Callable[[str, str], None] = lambda text, name: None
    echo: Callable[[str], None] = lambda line: None
    state_dir: str = ""
    fingerprint: str = ""
    registry_hook: Callable | None = None

    def beam_options(self):
        """Beam PipelineOptions from the user's ``--beam-arg`` values (DirectRunner by default)."""
        from apache_beam.options.pipeline_options import PipelineOptions

        args = list(self.beam_args)
        if not any(a.startswith("--runner") for a in args):
            args.append("--runner=DirectRunner")
        return PipelineOptions(args)
