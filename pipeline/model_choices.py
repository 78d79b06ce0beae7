"""Checks of the config keys that choose models: ``model.ensemble`` and ``tuning.search_space``.

They run after the schema and task checks and raise a one-line ``ConfigError`` naming the key.
An ensemble entry is normalized to a mapping of overrides of the ``model`` section.
"""
from __future__ import annotations

import difflib

from seqline.pipeline.config_fields import COMMON, check_value
from seqline.pipeline.errors import ConfigError

# tunable key -> config section it overrides
TUNABLE = {"type": "model", "units": "model", "layers": "model", "dropout": "model",
           "heads": "model", "ff_units": "model", "lookback": "model",
           "learning_rate": "training", "batch_size": "training"}
INTEGER_KEYS = ("units", "layers", "heads", "ff_units", "lookback", "batch_size")
# Tasks whose model can read a shorter window than Transform wrote (it crops its input), so
# ``lookback`` is tuned without rerunning Transform; the value is the key that bounds it.
CROPPABLE_WINDOW = {"forecast": ("transform", "lookback")}
MEMBER_KEYS = [k for k in COMMON["model"].fields if k != "ensemble"]


def _unknown(key: str, name, known) -> ConfigError:
    hint = difflib.get_close_matches(str(name), known, n=1)
    return ConfigError(f"{key}: unknown key{f' (did you mean {hint[0]!r}?)' if hint else ''}")


def normalize_ensemble(entries: list) -> list:
    """``model.ensemble`` entries as mappings of model keys; raises ConfigError on a bad one."""
    if len(entries) < 2:
        raise ConfigError(f"model.ensemble: needs at least 2 members, got {len(entries)}")
    out = []
    for i, entry in enumerate(entries):
        key = f"model.ensemble[{i}]"
        if isinstance(entry, str):
            entry = {"type": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"{key}: expected an architecture name or a mapping of model keys, "
                              f"got {entry!r}")
        for name, value in entry.items():
            if name not in MEMBER_KEYS:
                raise _unknown(f"{key}.{name}", name, MEMBER_KEYS)
            check_value(f"{key}.{name}", COMMON["model"].fields[name], value)
        out.append(dict(entry))
    return out


def check_search_space(cfg: dict) -> None:
    """Each ``tuning.search_space`` key must be tunable and its choices or range valid."""
    space = cfg["tuning"]["search_space"]
    if not space:
        raise ConfigError("tuning.search_space: empty; name at least one key to tune")
    for name, choices in space.items():
        key = f"tuning.search_space.{name}"
        if name not in TUNABLE:
            raise _unknown(key, name, list(TUNABLE))
        values = _values(key, choices, name)
        if name == "lookback":
            _check_lookback(key, cfg, values)
        elif name == "type" and cfg["model"]["ensemble"]:
            raise ConfigError(f"{key}: model.ensemble fixes the architectures; tune other keys "
                              "or remove model.ensemble")
        else:
            for value in values:
                check_value(key, COMMON[TUNABLE[name]].fields[name], value)


def _values(key: str, choices, name: str) -> list:
    """The values to check: every choice of a list, or ``low`` and ``high`` of a range."""
    if isinstance(choices, list):
        if not choices:
            raise ConfigError(f"{key}: empty list of choices")
        return choices
    if not isinstance(choices, dict):
        raise ConfigError(f"{key}: expected a list of choices or a mapping {{low, high, log}}, "
                          f"got {choices!r}")
    extra = set(choices) - {"low", "high", "log"}
    if extra or not {"low", "high"} <= set(choices):
        raise ConfigError(f"{key}: a range needs exactly low, high and optionally log")
    low, high = choices["low"], choices["high"]
    if name == "type" or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for v in (low, high)):
        raise ConfigError(f"{key}: low and high must be numbers")
    if low > high:
        raise ConfigError(f"{key}: low ({low}) is above high ({high})")
    if not isinstance(choices.get("log", False), bool):
        raise ConfigError(f"{key}.log: expected true or false")
    if choices.get("log") and low <= 0:
        raise ConfigError(f"{key}: a log range needs low > 0")
    return [low, high]


def _check_lookback(key: str, cfg: dict, values: list) -> None:
    if cfg["task"] not in CROPPABLE_WINDOW:
        raise ConfigError(f"{key}: the {cfg['task']} task cannot tune the window length without "
                          "rerunning Transform; set it in the transform section instead")
    section, bound_key = CROPPABLE_WINDOW[cfg["task"]]
    bound = cfg[section][bound_key]
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= bound:
            raise ConfigError(f"{key}: {value!r} must be an integer from 2 to {section}.{bound_key} "
                              f"({bound}): Transform writes windows of {bound} steps once and each "
                              "trial's model reads the last lookback of them")


MAX_PARAMETERS = 200_000_000   # 3.2 GB of float32 weights, gradients and Adam moments
GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}


def estimate_parameters(model: dict) -> int:
    """About how many weights the encoder of ``model`` has (inputs and head not counted): each
    recurrent layer ``gates * units * (2 * units + 1)`` (twice with ``bidirectional``), each
    Transformer block ``4 * units^2`` for attention plus ``2 * units * ff_units``."""
    units, layers = model["units"], model["layers"]
    if model["type"] == "transformer":
        return layers * (4 * units * units + 2 * units * model["ff_units"])
    per_layer = GATES[model["type"]] * units * (2 * units + 1)
    return layers * per_layer * (2 if model.get("bidirectional") else 1)


def check_model_size(cfg: dict) -> None:
    """The configured model and every ensemble member must stay under :data:`MAX_PARAMETERS`."""
    for i, member in enumerate(cfg["model"].get("ensemble") or [{}]):
        model = {**cfg["model"], **member}
        count = estimate_parameters(model)
        if count > MAX_PARAMETERS:
            key = f"model.ensemble[{i}]" if member else "model"
            raise ConfigError(f"{key}: about {count:,} parameters ({model['type']}, units "
                              f"{model['units']}, layers {model['layers']}), more than "
                              f"{MAX_PARAMETERS:,}, which would not fit in memory for training; "
                              "lower units or layers")


def check_model_choices(cfg: dict) -> None:
    """Validate and normalize ``model.ensemble`` and ``tuning``; check the model's size."""
    if cfg["model"].get("ensemble") is not None:
        cfg["model"]["ensemble"] = normalize_ensemble(cfg["model"]["ensemble"])
    check_model_size(cfg)
    if cfg.get("tuning") is not None:
        check_search_space(cfg)
