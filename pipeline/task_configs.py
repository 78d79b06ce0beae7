"""The config sections each task adds (``data``, ``transform``, ``evaluation``) and its checks.

A task registers its sections in ``TASK_SECTIONS`` and a check in ``TASK_CHECKS``; the check runs
after the schema validation, with paths resolved, and raises a one-line ``ConfigError``.
"""
from __future__ import annotations

import csv
import os

from pipeline.config import NUM, Section
from pipeline.config import field_spec as _f
from pipeline.errors import ConfigError

OPTIONAL_STR = (str, type(None))
OPTIONAL_NUM = (int, float, type(None))


def split_section(train=0.8, eval_=0.1, test=0.1) -> Section:
    """Fractions of the data for train/eval/test."""
    return Section({"train": _f(NUM, train, minimum=0.0, maximum=1.0),
                    "eval": _f(NUM, eval_, minimum=0.0, maximum=1.0),
                    "test": _f(NUM, test, minimum=0.0, maximum=1.0)})


def csv_header(key: str, path: str) -> list:
    """The stripped header of a CSV file, or a ConfigError naming ``key``."""
    if not os.path.isfile(path):
        raise ConfigError(f"{key}: file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path} is not UTF-8 text; save it as UTF-8") from None
    if not header:
        raise ConfigError(f"{key}: {path} is empty (no header row)")
    return [h.strip() for h in header]


def require_columns(path: str, header: list, wanted: list) -> None:
    """Each ``(key, column)`` in ``wanted`` must be in ``header``."""
    for key, column in wanted:
        if column not in header:
            raise ConfigError(f"{key}: column '{column}' not in {path} (columns: {', '.join(header)})")


def compression_section(budget: dict) -> Section:
    """The ``compression`` section (components/compressor.py) with the task's ``budget`` keys."""
    return Section({
        "enabled": _f(bool, True, help="false: export the float model only"),
        "targets": _f(list, ["gpu", "edge"], help="gpu (SavedModel) and/or edge (.tflite)"),
        "variants": _f((list, type(None)), None,
                       help="variant names to build (components/compression/catalog.py); null: all"),
        "calibration_samples": _f(int, 256, minimum=1,
                                  help="train windows that calibrate full-integer quantization"),
        "latency_runs": _f(int, 200, minimum=10, help="batch-1 calls timed per variant"),
        "pruning": Section({
            "target_sparsity": _f(NUM, 0.5, minimum=0.05, maximum=0.95),
            "epochs": _f(int, 2, minimum=1, help="fine-tune epochs on the train split"),
            "clusters": _f(int, 16, minimum=2, help="weight clusters per kernel (clustered variant)"),
        }),
        "budget": Section(budget),
    })


def check_compression(section: dict, key: str = "compression") -> None:
    """Targets and variant names must be known."""
    from components.compression.catalog import TARGETS, VARIANTS

    targets = section["targets"]
    if not targets or any(t not in TARGETS for t in targets):
        raise ConfigError(f"{key}.targets: expected a non-empty list of {', '.join(TARGETS)}, "
                          f"got {targets!r}")
    for name in section["variants"] or []:
        if name not in VARIANTS:
            raise ConfigError(f"{key}.variants: unknown variant {name!r} (known: {', '.join(VARIANTS)})")


def check_split(split: dict, key: str = "data.split") -> None:
    if abs(split["train"] + split["eval"] + split["test"] - 1.0) > 1e-6:
        raise ConfigError(f"{key}: train + eval + test must add up to 1")
    if split["train"] <= 0 or split["test"] <= 0:
        raise ConfigError(f"{key}: train and test fractions must be above 0")


FORECAST = {
    "data": Section({
        "path": _f(str, is_path=True, help="CSV file (relative to the config file)"),
        "time_column": _f(str),
        "time_format": _f(OPTIONAL_STR, None, help="strptime format; default ISO 8601"),
        "feature_columns": _f(list),
        "target_column": _f(str),
        "series_id_column": _f(OPTIONAL_STR, None),
        "split": split_section(),
        "max_bad_fraction": _f(NUM, 0.01, minimum=0.0, maximum=1.0),
        "max_missing_run": _f(int, 5, minimum=0,
                              help="longer runs of missing values are quarantined"),
    }, optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "log_returns": _f((bool, list), False, help="true for all features, or a list of columns"),
        "lookback": _f(int, 30, minimum=2),
        "horizon": _f(int, 1, minimum=1),
        "stride": _f(int, 1, minimum=1),
    }),
    "evaluation": Section({
        "seasonal_period": _f(int, 5, minimum=1),
        "blessing": Section({
            "max_mase": _f(OPTIONAL_NUM, None, minimum=0.0,
                           help="bless only if test MASE is below this"),
            "max_ratio_to_naive": _f(OPTIONAL_NUM, None, minimum=0.0,
                                     help="bless only if MASE / naive MASE is at most this"),
            "max_regression_vs_champion": _f(OPTIONAL_NUM, 0.05, minimum=0.0,
                                             help="relative MASE increase allowed"),
        }),
    }),
    "compression": compression_section({
        "max_relative_mae_increase": _f(NUM, 0.03, minimum=0.0,
                                        help="a variant's test MAE at most this much above the "
                                             "float model's (0.03: 3%)"),
    }),
}


def check_forecast(cfg: dict) -> None:
    data = cfg["data"]
    columns = data["feature_columns"]
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ConfigError("data.feature_columns: expected a non-empty list of column names")
    header = csv_header("data.path", data["path"])
    wanted = [("data.time_column", data["time_column"]), ("data.target_column", data["target_column"])]
    wanted += [("data.feature_columns", c) for c in columns]
    if data["series_id_column"]:
        wanted.append(("data.series_id_column", data["series_id_column"]))
    require_columns(data["path"], header, wanted)
    if data["target_column"] not in columns:
        data["feature_columns"] = columns + [data["target_column"]]
    log_returns = cfg["transform"]["log_returns"]
    if isinstance(log_returns, list):
        for column in log_returns:
            if column not in data["feature_columns"]:
                raise ConfigError(f"transform.log_returns: '{column}' is not a feature column")
    check_split(data["split"])
    if cfg["evaluation"]["seasonal_period"] > cfg["transform"]["lookback"]:
        raise ConfigError("evaluation.seasonal_period: must not exceed transform.lookback")
    check_compression(cfg["compression"])


TASK_SECTIONS = {"forecast": FORECAST}
TASK_CHECKS = {"forecast": check_forecast}
