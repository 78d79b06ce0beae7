"""Config validation of the classify and label tasks: defaults, example configs, one-line errors
that name the key."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seqline.pipeline.config import load_config, validate_config
from seqline.pipeline.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV = "id,t,a,b,label,part\ns1,0,1,2,x,train\ns1,1,1,2,x,train\n"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "data.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "other.csv").write_text("id,t,a,label\ns1,0,1,x\n", encoding="utf-8")
    return tmp_path


def classify(**data):
    return {"name": "c", "task": "classify",
            "data": {"path": "data.csv", "series_id_column": "id", "feature_columns": ["a", "b"],
                     "label_column": "label", **data}}


def label(transform=None, **data):
    return {"name": "l", "task": "label", "transform": transform or {},
            "data": {"path": "data.csv", "feature_columns": ["a"], "label_column": "label",
                     **data}}


def error_of(raw, folder) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=str(folder))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_defaults_of_both_tasks(folder):
    cfg = validate_config(classify(), base_dir=str(folder))
    assert cfg["data"]["split"] == {"eval": 0.2, "test": 0.2, "seed": 42}
    assert cfg["data"]["time_column"] is None and cfg["transform"]["max_length"] is None
    assert cfg["model"]["bidirectional"] is False
    assert cfg["evaluation"]["blessing"]["beat_baseline"] is True
    cfg = validate_config(label(), base_dir=str(folder))
    assert (cfg["transform"]["window"], cfg["transform"]["stride"]) == (200, 100)
    assert cfg["data"]["path"] == str(folder / "data.csv")


@pytest.mark.parametrize("example", ["motion_classify", "ecg_label"])
def test_example_configs_load(example):
    cfg = load_config(os.path.join(ROOT, "examples", example, "pipeline.yaml"))
    assert os.path.isfile(cfg["data"]["path"])


@pytest.mark.parametrize("raw, expected", [
    (classify(label_column="kind"), "data.label_column: column 'kind' not in"),
    (classify(series_id_column=None), "data.series_id_column: expected string, got None"),
    (classify(feature_columns=["a", "label"]), "data.label_column: 'label' is also a feature"),
    (classify(feature_columns=["a", "a"]), "data.feature_columns: a column is listed twice"),
    (classify(split_column="fold"), "data.split_column: column 'fold' not in"),
    (classify(test_path="other.csv"), "data.feature_columns: column 'b' not in"),
    (classify(test_path="none.csv"), "data.test_path: file not found"),
    (classify(split={"eval": 0.5, "test": 0.5}), "data.split: eval + test must leave"),
    (classify(time_column="time"), "data.time_column: column 'time' not in"),
    (label(series_id_column="sensor"), "data.series_id_column: column 'sensor' not in"),
    (label(split={"train": 0.5, "eval": 0.1, "test": 0.1}), "data.split: train + eval + test"),
    (label({"window": 10, "stride": 20}), "transform.stride: must not exceed transform.window"),
    (label({"class_weights": "auto"}), "transform.class_weights: must be one of none, balanced"),
    (label({"max_length": 10}), "transform.max_length: unknown key"),
])
def test_config_errors_name_the_key(folder, raw, expected):
    assert expected in error_of(raw, folder)


def test_cli_config_error_is_one_line_exit_2(folder):
    (folder / "pipeline.yaml").write_text(
        "name: c\ntask: label\ndata: {path: data.csv, feature_columns: [a], label_column: y}\n")
    done = subprocess.run([sys.executable, "-m", "seqline", "run", "pipeline.yaml"],
                          cwd=folder, env={**os.environ, "PYTHONPATH": ROOT},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"seqline: config error: data.label_column: column 'y' not in {folder}/data.csv "
        "(columns: id, t, a, b, label, part)"]
