"""Load and validate a seqline YAML config before anything runs.

Every problem is reported as a one-line :class:`ConfigError` that names the key, e.g.
``config error: model.typ: unknown key (did you mean 'type'?)``.

Relative paths in the config are resolved against the folder that holds the config file.

Example:
    >>> cfg = load_config("examples/stock_forecast/pipeline.yaml")
    >>> cfg["model"]["type"]
    'lstm'
"""
from __future__ import annotations

import csv
import difflib
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from pipeline.errors import ConfigError

REQUIRED = object()
TASKS = ("forecast",)
MODEL_TYPES = ("simple_rnn", "lstm", "gru", "transformer")
STAGES = ("ExampleGen", "Transform", "Trainer", "Evaluator", "Pusher")


@dataclass
class Field:
    """One config key: its type(s), default and allowed values."""

    types: tuple
    default: Any = REQUIRED
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


@dataclass
class Section:
    """A nested mapping of fields."""

    fields: dict = field(default_factory=dict)
    optional: bool = True


def _f(types, default=REQUIRED, **kw) -> Field:
    return Field(types if isinstance(types, tuple) else (types,), default, **kw)


NUM = (int, float)
SCHEMA = Section({
    "name": _f(str, help="pipeline name; also the MLflow experiment and model name"),
    "task": _f(str, "forecast", choices=TASKS),
    "pipeline_root": _f(str, "output/pipeline", help="where artifacts are written"),
    "data": Section({
        "path": _f(str, help="CSV file (relative to the config file)"),
        "time_column": _f(str),
        "time_format": _f((str, type(None)), None, help="strptime format; default ISO 8601"),
        "feature_columns": _f(list),
        "target_column": _f(str),
        "series_id_column": _f((str, type(None)), None),
        "split": Section({
            "train": _f(NUM, 0.8, minimum=0.0, maximum=1.0),
            "eval": _f(NUM, 0.1, minimum=0.0, maximum=1.0),
            "test": _f(NUM, 0.1, minimum=0.0, maximum=1.0),
        }),
        "max_bad_fraction": _f(NUM, 0.01, minimum=0.0, maximum=1.0),
        "max_missing_run": _f(int, 5, minimum=0,
                              help="longer runs of missing values are quarantined"),
    }, optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "log_returns": _f((bool, list), False,
                          help="true for all features, or a list of columns"),
        "lookback": _f(int, 30, minimum=2),
        "horizon": _f(int, 1, minimum=1),
        "stride": _f(int, 1, minimum=1),
    }),
    "model": Section({
        "type": _f(str, "lstm", choices=MODEL_TYPES),
        "units": _f(int, 32, minimum=1),
        "layers": _f(int, 1, minimum=1),
        "dropout": _f(NUM, 0.0, minimum=0.0, maximum=0.9),
        "heads": _f(int, 4, minimum=1, help="transformer attention heads"),
        "ff_units": _f(int, 64, minimum=1, help="transformer feed-forward width"),
    }),
    "training": Section({
        "epochs": _f(int, 10, minimum=1),
        "batch_size": _f(int, 64, minimum=1),
        "learning_rate": _f(NUM, 1e-3, minimum=0.0),
        "early_stopping_patience": _f(int, 3, minimum=0),
        "shuffle_buffer": _f(int, 10000, minimum=1),
        "seed": _f(int, 42),
    }),
    "evaluation": Section({
        "seasonal_period": _f(int, 5, minimum=1),
        "blessing": Section({
            "max_mase": _f((int, float, type(None)), None, minimum=0.0,
                           help="bless only if test MASE is below this"),
            "max_ratio_to_naive": _f((int, float, type(None)), None, minimum=0.0,
                                     help="bless only if MASE / naive MASE is at most this"),
            "max_regression_vs_champion": _f((int, float, type(None)), 0.05, minimum=0.0,
                                             help="relative MASE increase allowed"),
        }),
    }),
    "pusher": Section({
        "serving_dir": _f(str, "output/serving"),
        "model_name": _f((str, type(None)), None, help="default: the pipeline name"),
        "register": _f(bool, True, help="register in the MLflow Model Registry"),
    }),
    "mlflow": Section({
        "experiment": _f((str, type(None)), None, help="default: the pipeline name"),
    }),
})

PATH_KEYS = (("pipeline_root",), ("data", "path"), ("pusher", "serving_dir"))


def _type_name(types: tuple) -> str:
    names = {int: "integer", float: "number", str: "string", bool: "boolean",
             list: "list", dict: "mapping", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def _check_value(key: str, spec: Field, value: Any) -> Any:
    is_bool = isinstance(value, bool)
    if not isinstance(value, spec.types) or (is_bool and bool not in spec.types):
        raise ConfigError(f"{key}: expected {_type_name(spec.types)}, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{key}: must be one of {', '.join(spec.choices)}, got {value!r}")
    if isinstance(value, (int, float)) and not is_bool:
        if spec.minimum is not None and value < spec.minimum:
            raise ConfigError(f"{key}: must be >= {spec.minimum}, got {value}")
        if spec.maximum is not None and value > spec.maximum:
            raise ConfigError(f"{key}: must be <= {spec.maximum}, got {value}")
    return value


def _validate(section: Section, raw: Any, prefix: str) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}")
    for key in raw:
        if key not in section.fields:
            hint = difflib.get_close_matches(str(key), section.fields, n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{prefix}{key}: unknown key{more}")
    out = {}
    for key, spec in section.fields.items():
        name = prefix + key
        if isinstance(spec, Section):
            if key not in raw and not spec.optional:
                raise ConfigError(f"{name}: missing required section")
            out[key] = _validate(spec, raw.get(key), name + ".")
        elif key in raw:
            out[key] = _check_value(name, spec, raw[key])
        elif spec.default is REQUIRED:
            raise ConfigError(f"{name}: missing required key")
        else:
            out[key] = spec.default
    return out


def _check_data(cfg: dict) -> None:
    data = cfg["data"]
    path = data["path"]
    if not os.path.isfile(path):
        raise ConfigError(f"data.path: file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError:
        raise ConfigError(f"data.path: {path} is not UTF-8 text; save it as UTF-8") from None
    if not header:
        raise ConfigError(f"data.path: {path} is empty (no header row)")
    header = [h.strip() for h in header]
    wanted = [("data.time_column", data["time_column"]), ("data.target_column", data["target_column"])]
    wanted += [("data.feature_columns", c) for c in data["feature_columns"]]
    if data["series_id_column"]:
        wanted.append(("data.series_id_column", data["series_id_column"]))
    for key, column in wanted:
        if column not in header:
            raise ConfigError(f"{key}: column '{column}' not in {path} (columns: {', '.join(header)})")
    if data["target_column"] not in data["feature_columns"]:
        data["feature_columns"] = data["feature_columns"] + [data["target_column"]]
    lr = cfg["transform"]["log_returns"]
    if isinstance(lr, list):
        for column in lr:
            if column not in data["feature_columns"]:
                raise ConfigError(f"transform.log_returns: '{column}' is not a feature column")
    split = data["split"]
    if abs(split["train"] + split["eval"] + split["test"] - 1.0) > 1e-6:
        raise ConfigError("data.split: train + eval + test must add up to 1")
    if split["train"] <= 0 or split["test"] <= 0:
        raise ConfigError("data.split: train and test fractions must be above 0")


def validate_config(raw: Any, base_dir: str = ".") -> dict:
    """Validate a parsed YAML mapping; return the full config with defaults filled in."""
    cfg = _validate(SCHEMA, raw, "")
    for keys in PATH_KEYS:
        node = cfg
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = os.path.normpath(os.path.join(base_dir, node[keys[-1]]))
    if not all(isinstance(c, str) for c in cfg["data"]["feature_columns"]):
        raise ConfigError("data.feature_columns: expected a list of column names")
    if not cfg["data"]["feature_columns"]:
        raise ConfigError("data.feature_columns: at least one column is needed")
    cfg["pusher"]["model_name"] = cfg["pusher"]["model_name"] or cfg["name"]
    cfg["mlflow"]["experiment"] = cfg["mlflow"]["experiment"] or cfg["name"]
    if cfg["evaluation"]["seasonal_period"] > cfg["transform"]["lookback"]:
        raise ConfigError("evaluation.seasonal_period: must not exceed transform.lookback")
    _check_data(cfg)
    return cfg


def load_config(path: str) -> dict:
    """Read and validate the YAML config at ``path``."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{where}: invalid YAML ({problem})") from None
    return validate_config(raw, os.path.dirname(os.path.abspath(path)))
