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


def labeled_blessing() -> Section:
    """Blessing rules of the classification tasks (classify, label)."""
    return Section({
        "min_accuracy": _f(OPTIONAL_NUM, None, minimum=0.0, maximum=1.0,
                           help="bless only if test accuracy is at least this"),
        "min_macro_f1": _f(OPTIONAL_NUM, None, minimum=0.0, maximum=1.0,
                           help="bless only if test macro-F1 is at least this"),
        "beat_baseline": _f(bool, True, help="bless only if macro-F1 is above the majority "
                                             "baseline's"),
        "max_regression_vs_champion": _f(OPTIONAL_NUM, 0.05, minimum=0.0,
                                         help="relative macro-F1 drop allowed"),
    })


def labeled_data(**extra) -> dict:
    """The ``data`` keys the classification tasks share."""
    return {
        "path": _f(str, is_path=True, help="CSV file (relative to the config file)"),
        "feature_columns": _f(list),
        "label_column": _f(str),
        "time_column": _f(OPTIONAL_STR, None, help="sort key per series; default: row order"),
        "time_format": _f(OPTIONAL_STR, None,
                          help="strptime format; default: numbers or ISO 8601 times"),
        **extra,
        "max_bad_fraction": _f(NUM, 0.01, minimum=0.0, maximum=1.0),
        "max_missing_run": _f(int, 5, minimum=0,
                              help="longer runs of missing values are quarantined"),
    }


CLASS_WEIGHTS = _f(str, "none", choices=("none", "balanced"),
                   help="balanced: loss weight n / (classes x count) per train class")

CLASSIFY = {
    "data": Section(labeled_data(
        series_id_column=_f(str),
        test_path=_f(OPTIONAL_STR, None, is_path=True, help="separate file of test series"),
        split_column=_f(OPTIONAL_STR, None, help="column with train, eval or test per series"),
        split=Section({
            "eval": _f(NUM, 0.2, minimum=0.0, maximum=0.9,
                       help="fraction of the train series held out for validation"),
            "test": _f(NUM, 0.2, minimum=0.0, maximum=0.9,
                       help="fraction of all series held out for test when the data says "
                            "nothing of test series (no test_path, no 'test' in split_column)"),
            "seed": _f(int, 42, help="which series are held out (stratified by label)"),
        }),
    ), optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "max_length": _f((int, type(None)), None, minimum=1,
                         help="steps read per series; default: the longest train series"),
        "class_weights": CLASS_WEIGHTS,
    }),
    "evaluation": Section({"blessing": labeled_blessing()}),
}

LABEL = {
    "data": Section(labeled_data(
        series_id_column=_f(OPTIONAL_STR, None, help="default: the whole file is one series"),
        split=split_section(0.7, 0.15, 0.15),
    ), optional=False),
    "transform": Section({
        "scaling": _f(str, "standard", choices=("standard", "minmax", "none")),
        "window": _f(int, 200, minimum=2, help="steps per model input window"),
        "stride": _f(int, 100, minimum=1, help="steps between window starts (overlap: window - "
                                               "stride)"),
        "class_weights": CLASS_WEIGHTS,
    }),
    "evaluation": Section({
        "plot_steps": _f(int, 3000, minimum=10, help="test steps shown in labeled_series.png"),
        "blessing": labeled_blessing(),
    }),
}


def _check_labeled_columns(data: dict, paths: list, extra: list) -> None:
    """Feature, label, time and ``extra`` ``(key, column)`` columns exist in every file."""
    columns = data["feature_columns"]
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ConfigError("data.feature_columns: expected a non-empty list of column names")
    if len(set(columns)) != len(columns):
        raise ConfigError("data.feature_columns: a column is listed twice")
    if data["label_column"] in columns:
        raise ConfigError(f"data.label_column: '{data['label_column']}' is also a feature column")
    wanted = [("data.feature_columns", c) for c in columns] + [("data.label_column",
                                                               data["label_column"])]
    if data["time_column"]:
        wanted.append(("data.time_column", data["time_column"]))
    wanted += [(key, column) for key, column in extra if column]
    for key, path in paths:
        require_columns(path, csv_header(key, path), wanted)


def check_classify(cfg: dict) -> None:
    data = cfg["data"]
    series = ("data.series_id_column", data["series_id_column"])
    _check_labeled_columns(data, [("data.path", data["path"])],
                           [series, ("data.split_column", data["split_column"])])
    if data["test_path"]:   # every series of this file is a test series: no split column
        _check_labeled_columns(data, [("data.test_path", data["test_path"])], [series])
    if data["split"]["eval"] + data["split"]["test"] >= 1.0:
        raise ConfigError("data.split: eval + test must leave some train series (below 1)")


def check_label(cfg: dict) -> None:
    data, transform = cfg["data"], cfg["transform"]
    _check_labeled_columns(data, [("data.path", data["path"])],
                           [("data.series_id_column", data["series_id_column"])])
    check_split(data["split"])
    if transform["stride"] > transform["window"]:
        raise ConfigError(f"transform.stride: must not exceed transform.window "
                          f"({transform['window']}), or steps would be skipped")


TASK_SECTIONS = {"forecast": FORECAST, "classify": CLASSIFY, "label": LABEL}
TASK_CHECKS = {"forecast": check_forecast, "classify": check_classify, "label": check_label}
