"""The config sections each task adds (``data``, ``transform``, ``evaluation``) and its checks.

A task registers its sections in ``TASK_SECTIONS`` and a check in ``TASK_CHECKS``; the check runs
after the schema validation, with paths resolved, and raises a one-line ``ConfigError``.
"""
from __future__ import annotations

import csv
import os

from pipeline import spans
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


def span_section() -> Section:
    """Which spans of a ``{SPAN}`` / ``{YYYY}-{MM}-{DD}`` data path a run reads."""
    return Section({"latest": _f((int, type(None)), 1, minimum=1,
                                 help="the newest N spans (of the range); null: all of them"),
                    "first": _f((int, str, type(None)), None, help="first span of the range"),
                    "last": _f((int, str, type(None)), None, help="last span of the range")})


def data_file(data: dict) -> str:
    """The file whose header the config check reads: the newest selected span's first file,
    or ``data.path`` itself."""
    if not spans.is_pattern(data["path"]):
        return data["path"]
    return spans.resolve(data["path"], data["spans"])[1][-1]


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


def check_split(split: dict, key: str = "data.split") -> None:
    if abs(split["train"] + split["eval"] + split["test"] - 1.0) > 1e-6:
        raise ConfigError(f"{key}: train + eval + test must add up to 1")
    if split["train"] <= 0 or split["test"] <= 0:
        raise ConfigError(f"{key}: train and test fractions must be above 0")


FORECAST = {
    "data": Section({
        "path": _f(str, is_path=True, help="CSV file (relative to the config file); may contain "
                                           "{SPAN} or {YYYY}, {MM}, {DD}"),
        "spans": span_section(),
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
}


def check_forecast(cfg: dict) -> None:
    data = cfg["data"]
    columns = data["feature_columns"]
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ConfigError("data.feature_columns: expected a non-empty list of column names")
    path = data_file(data)
    header = csv_header("data.path", path)
    wanted = [("data.time_column", data["time_column"]), ("data.target_column", data["target_column"])]
    wanted += [("data.feature_columns", c) for c in columns]
    if data["series_id_column"]:
        wanted.append(("data.series_id_column", data["series_id_column"]))
    require_columns(path, header, wanted)
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


TASK_SECTIONS = {"forecast": FORECAST}
TASK_CHECKS = {"forecast": check_forecast}
