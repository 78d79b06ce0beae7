"""Shared builders for the classify and label tests: small slices of the real example data."""
from __future__ import annotations

import csv
import os

from seqline.pipeline.config import validate_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOTIONS = os.path.join(ROOT, "examples", "motion_classify", "data")
ECG = os.path.join(ROOT, "examples", "ecg_label", "data", "ecg_mitdb_labeled.csv")
MOTION_FEATURES = [f"dim_{i}" for i in range(6)]


def read_rows(path: str) -> tuple:
    """Header and rows (lists of cells) of a CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_csv(path, header, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def motions_slice(path, split: str, per_label: int) -> str:
    """The first ``per_label`` series of each activity of the real BasicMotions ``split`` file."""
    header, rows = read_rows(os.path.join(MOTIONS, f"basic_motions_{split}.csv"))
    chosen, kept = {}, []
    for row in rows:
        series, label = row[0], row[-1]
        if series in chosen or len([s for s, lab in chosen.items() if lab == label]) < per_label:
            chosen.setdefault(series, label)
            kept.append(row)
    return write_csv(path, header, kept)


def classify_config(tmp_path, data: dict, **sections) -> dict:
    """A validated classify config writing everything under ``tmp_path``."""
    raw = {"name": "motion_test", "task": "classify", "pipeline_root": "pipeline",
           "data": {"series_id_column": "series_id", "time_column": "t",
                    "feature_columns": MOTION_FEATURES, "label_column": "label", **data},
           "model": {"type": "gru", "units": 8}, "training": {"epochs": 2, "batch_size": 8},
           "pusher": {"serving_dir": "serving"}, **sections}
    return validate_config(raw, base_dir=str(tmp_path))


def label_config(tmp_path, path: str, **sections) -> dict:
    """A validated label config on ``path`` (columns ``data,label``)."""
    raw = {"name": "ecg_test", "task": "label", "pipeline_root": "pipeline",
           "data": {"path": path, "feature_columns": ["data"], "label_column": "label",
                    "split": {"train": 0.94, "eval": 0.0, "test": 0.06}},
           "transform": {"window": 120, "stride": 40},
           "model": {"type": "gru", "units": 8}, "training": {"epochs": 2, "batch_size": 16},
           "pusher": {"serving_dir": "serving"}, **sections}
    return validate_config(raw, base_dir=str(tmp_path))
