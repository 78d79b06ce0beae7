"""The config's building blocks: :class:`Field` and :class:`Section`, the sections every task
shares (:data:`COMMON`), and :func:`check_value`. The task sections are in
:mod:`seqline.pipeline.task_configs`, the model-choice checks in :mod:`seqline.pipeline.model_choices`, loading
in :mod:`seqline.pipeline.config`."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.errors import ConfigError

REQUIRED = object()
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MODEL_TYPES = ("simple_rnn", "lstm", "gru", "transformer")
STAGES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Tuner",
          "Trainer", "Evaluator", "Compressor", "Pusher")   # Tuner: only with a tuning section


@dataclass
class Field:
    """One config key: its type(s), default and allowed values."""

    types: tuple
    default: Any = REQUIRED
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    is_path: bool = False      # resolved against the config file's folder
    is_name: bool = False      # becomes a folder, an MLflow and a Keras name: see NAME


@dataclass
class Section:
    """A nested mapping of fields."""

    fields: dict = field(default_factory=dict)
    optional: bool = True
    none_if_absent: bool = False   # an absent section is None (the feature is off), not defaults


def field_spec(types, default=REQUIRED, **kw) -> Field:
    """A :class:`Field` from one type or a tuple of types."""
    return Field(types if isinstance(types, tuple) else (types,), default, **kw)


_f = field_spec


NUM = (int, float)
COMMON = {
    "name": _f(str, is_name=True,
               help="pipeline name; also the MLflow experiment and model name"),
    "task": _f(str, "forecast", help="see seqline.pipeline.task_configs.TASK_SECTIONS"),
    "pipeline_root": _f(str, "output/pipeline", is_path=True, help="where artifacts are written"),
    "model": Section({
        "type": _f(str, "lstm", choices=MODEL_TYPES),
        "units": _f(int, 32, minimum=1),
        "layers": _f(int, 1, minimum=1),
        "dropout": _f(NUM, 0.0, minimum=0.0, maximum=0.9),
        "heads": _f(int, 4, minimum=1, help="transformer attention heads"),
        "ff_units": _f(int, 64, minimum=1, help="transformer feed-forward width"),
        "ensemble": _f((list, type(None)), None,
                       help="members: architecture names or mappings of model keys; their "
                            "average is one more candidate"),
        "bidirectional": _f(bool, False, help="recurrent layers run both ways; transformer steps "
                                              "also attend to later steps"),
    }),
    "training": Section({
        "epochs": _f(int, 10, minimum=1),
        "batch_size": _f(int, 64, minimum=1),
        "learning_rate": _f(NUM, 1e-3, minimum=0.0),
        "lr_schedule": _f(str, "constant", choices=("constant", "cosine"),
                          help="cosine: the learning rate falls from learning_rate to a tenth of "
                               "it over training.epochs"),
        "early_stopping_patience": _f(int, 3, minimum=0),
        "shuffle_buffer": _f(int, 10000, minimum=1),
        "cache_in_memory": _f((bool, str), "auto", choices=("auto", True, False),
                              help="keep the serialized examples in memory after the first "
                                   "epoch; auto: when train and eval take at most a quarter "
                                   "of the memory available, else stream them from disk"),
        "seed": _f(int, 42),
    }),
    "tuning": Section({
        "search_space": _f(dict, help="key: list of choices, or {low, high, log}; keys: "
                                      "type, units, layers, dropout, heads, ff_units, "
                                      "learning_rate, batch_size, lookback"),
        "max_trials": _f(int, 10, minimum=1, help="trial budget"),
        "max_seconds": _f(NUM, 600, minimum=1, help="time budget of the search"),
        "epochs": _f((int, type(None)), None, minimum=1, help="per trial; default training.epochs"),
        "seed": _f((int, type(None)), None, help="default training.seed"),
    }, none_if_absent=True),
    "pusher": Section({
        "serving_dir": _f(str, "output/serving", is_path=True),
        "edge_dir": _f(str, "output/edge", is_path=True, help="where the chosen .tflite goes"),
        "model_name": _f((str, type(None)), None, is_name=True,
                         help="default: the pipeline name"),
        "register": _f(bool, True, help="register in the MLflow Model Registry"),
    }),
    "validation": Section({
        "schema": _f((str, type(None)), None, is_path=True,
                     help="editable schema file; default <pipeline_root>/schema.yaml"),
        "max_missing_fraction": _f(NUM, 0.05, minimum=0.0, maximum=1.0,
                                   help="inferred schema: allowed share of missing values"),
        "max_drift": _f((int, float, type(None)), None, minimum=0.0, maximum=1.0,
                        help="largest Jensen-Shannon divergence from the previous data "
                             "(features whose schema sets none); null: no drift check"),
    }),
    "mlflow": Section({
        "experiment": _f((str, type(None)), None, help="default: the pipeline name"),
    }),
}


def _type_name(types: tuple) -> str:
    names = {int: "integer", float: "number", str: "string", bool: "boolean",
             list: "list", dict: "mapping", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def choice_text(choice) -> str:
    """A config choice as YAML spells it (``true``, not ``True``)."""
    return str(choice).lower() if isinstance(choice, bool) else str(choice)


def check_value(key: str, spec: Field, value: Any) -> Any:
    """``value`` if it has ``spec``'s type, choices and range, else a ConfigError naming ``key``."""
    is_bool = isinstance(value, bool)
    if not isinstance(value, spec.types) or (is_bool and bool not in spec.types):
        raise ConfigError(f"{key}: expected {_type_name(spec.types)}, got {value!r}")
    if spec.choices and value not in spec.choices:
        shown = ", ".join(choice_text(c) for c in spec.choices)
        raise ConfigError(f"{key}: must be one of {shown}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value}")
    if spec.is_name and isinstance(value, str) and not NAME.fullmatch(value):
        raise ConfigError(f"{key}: must be 1 to 100 letters, digits, '.', '_' or '-', starting "
                          f"with a letter or digit (it names folders and MLflow entries), "
                          f"got {value!r}")
    if isinstance(value, (int, float)) and not is_bool:
        if spec.minimum is not None and value < spec.minimum:
            raise ConfigError(f"{key}: must be >= {spec.minimum}, got {value}")
        if spec.maximum is not None and value > spec.maximum:
            raise ConfigError(f"{key}: must be <= {spec.maximum}, got {value}")
    return value
