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

import difflib
import logging
import os
from typing import Any

from seqline.pipeline.config_fields import COMMON, REQUIRED, Section, check_value
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.model_choices import check_model_choices
from seqline.pipeline.task_configs import TASK_CHECKS, TASK_SECTIONS


def schema(task: str) -> Section:
    """The full schema of a config for ``task``: common sections plus the task's own."""
    return Section({**COMMON, **TASK_SECTIONS[task]})


def _validate(section: Section, raw: Any, prefix: str, base_dir: str) -> dict:
    if raw is None:
        raw = {}
    raw = {} if raw is None else raw
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
            if raw.get(key) is None and spec.none_if_absent:
                out[key] = None
                continue
            if key not in raw and not spec.optional:
                raise ConfigError(f"{name}: missing required section")
            out[key] = _validate(spec, raw.get(key), name + ".", base_dir)
            continue
        if key in raw:
            out[key] = check_value(name, spec, raw[key])
        elif spec.default is REQUIRED:
            raise ConfigError(f"{name}: missing required key")
        else:
            out[key] = spec.default
        if spec.is_path and isinstance(out[key], str):
            out[key] = os.path.normpath(os.path.join(base_dir, out[key]))
    return out


def check_output_folder(key: str, folder: str) -> None:
    """``folder`` must be, or be creatable as, a folder this process can write to."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"{key}: {existing} is a file, not a folder (in {folder})")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: {existing} is not writable (in {folder})")


def validate_config(raw: Any, base_dir: str = ".") -> dict:
    """Validate a parsed YAML mapping; return the full config with defaults filled in."""

    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping, got {raw!r}")
    task = raw.get("task", "forecast")
    if not isinstance(task, str) or task not in TASK_SECTIONS:
        raise ConfigError(f"task: must be one of {', '.join(TASK_SECTIONS)}, got {task!r}")
    cfg = _validate(schema(task), raw, "", base_dir)
    for key, folder in (("pipeline_root", cfg["pipeline_root"]),
                        ("pusher.serving_dir", cfg["pusher"]["serving_dir"]),
                        ("pusher.edge_dir", cfg["pusher"]["edge_dir"])):
        check_output_folder(key, folder)
    cfg["pusher"]["model_name"] = cfg["pusher"]["model_name"] or cfg["name"]
    cfg["mlflow"]["experiment"] = cfg["mlflow"]["experiment"] or cfg["name"]
    TASK_CHECKS[task](cfg)
    check_model_choices(cfg)
    return cfg


def load_config(path: str) -> dict:
    """Read and validate the YAML config at ``path``."""
    from seqline.pipeline.yaml_loader import load_file

    cfg = validate_config(load_file(path), os.path.dirname(os.path.abspath(path)))
    logging.getLogger("seqline.config").debug(f"{path}: a valid '{cfg['task']}' config, "
                                              f"pipeline root {cfg['pipeline_root']}")
    return cfg
