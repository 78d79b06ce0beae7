"""Config validation: every problem is one ConfigError line that names the key."""
from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from seqline.pipeline.config import load_config, validate_config
from seqline.pipeline.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "stock_forecast", "pipeline.yaml")

CSV_TEXT = "Date,Open,High,Low,Close,Volume,OpenInt\n" + "".join(   # 60 business days
    f"2017-{9 + i // 20:02d}-{1 + i % 20:02d},84.14,84.61,83.83,{84 + i / 10:.2f},18034027,0\n"
    for i in range(60))

BASE = {
    "name": "unit",
    "data": {"path": "prices.csv", "time_column": "Date", "feature_columns": ["Volume"],
             "target_column": "Close"},
}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "prices.csv").write_text(CSV_TEXT, encoding="utf-8")
    return tmp_path


def make(**changes) -> dict:
    """BASE with ``changes`` applied; keys are dotted paths, the value DELETE removes the key."""
    raw = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(last)
        else:
            node[last] = value
    return raw


DELETE = object()


def error_of(raw, folder) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=str(folder))
    message = str(info.value)
    assert "\n" not in message
    return message


# --- valid configs -------------------------------------------------------------------------------

def test_valid_config_gets_defaults_and_absolute_paths(folder):
    cfg = validate_config(make(), base_dir=str(folder))
    assert cfg["data"]["path"] == str(folder / "prices.csv")
    assert cfg["pipeline_root"] == str(folder / "output" / "pipeline")
    assert cfg["pusher"]["serving_dir"] == str(folder / "output" / "serving")
    # the target is always a feature, appended after the listed ones
    assert cfg["data"]["feature_columns"] == ["Volume", "Close"]
    assert cfg["model"] == {"type": "lstm", "units": 32, "layers": 1, "dropout": 0.0,
                            "heads": 4, "ff_units": 64, "ensemble": None,
                            "bidirectional": False, "quantiles": None}
    assert cfg["tuning"] is None          # no tuning section: no Tuner
    assert cfg["data"]["split"] == {"train": 0.8, "eval": 0.1, "test": 0.1}
    assert cfg["data"]["max_missing_run"] == 5
    assert cfg["pusher"]["model_name"] == "unit"
    assert cfg["mlflow"]["experiment"] == "unit"


def test_example_config_loads():
    cfg = load_config(EXAMPLE)
    assert cfg["name"] == "msft_close"
    assert cfg["model"]["type"] == "lstm"
    assert cfg["data"]["path"] == os.path.join(ROOT, "examples", "stock_forecast", "data",
                                               "msft_daily.csv")
    assert cfg["data"]["feature_columns"] == ["Close", "Volume"]
    assert cfg["transform"]["log_returns"] == ["Close"]
    assert cfg["evaluation"]["blessing"]["max_ratio_to_best_baseline"] == 1.0
    assert cfg["evaluation"]["blessing"]["max_ratio_to_naive"] is None


def test_season_longer_than_an_explicit_lookback_names_both_fields(folder):
    message = error_of(make(transform__lookback=20, evaluation__seasonal_period=40), folder)
    assert message.startswith("evaluation.seasonal_period: 40 (set in the config) must not "
                              "exceed transform.lookback (20)")


def test_lookback_defaults_to_one_season_when_that_is_longer_than_30(folder):
    cfg = validate_config(make(evaluation__seasonal_period=40), base_dir=str(folder))
    assert cfg["transform"]["lookback"] == 40
    cfg = validate_config(make(), base_dir=str(folder))
    assert cfg["transform"]["lookback"] == 30


# --- unknown keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("dotted, expected", [
    ("model__typ", "model.typ: unknown key (did you mean 'type'?)"),
    ("pipline_root", "pipline_root: unknown key (did you mean 'pipeline_root'?)"),
    ("data__split__trian", "data.split.trian: unknown key (did you mean 'train'?)"),
    ("training__epoch", "training.epoch: unknown key (did you mean 'epochs'?)"),
    ("evaluation__blessing__max_mas", "evaluation.blessing.max_mas: unknown key (did you mean 'max_mase'?)"),
])
def test_unknown_key_names_dotted_key_and_suggests(folder, dotted, expected):
    assert error_of(make(**{dotted: 1}), folder) == expected


def test_unknown_key_without_close_match_has_no_suggestion(folder):
    assert error_of(make(model__zzzz=1), folder) == "model.zzzz: unknown key"


# --- wrong types ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dotted, value, expected", [
    ("model__units", "32", "model.units: expected integer, got '32'"),
    ("training__epochs", True, "training.epochs: expected integer, got True"),
    ("training__epochs", 2.5, "training.epochs: expected integer, got 2.5"),
    ("model__dropout", "0.1", "model.dropout: expected integer or number, got '0.1'"),
    ("pusher__register", "yes", "pusher.register: expected boolean, got 'yes'"),
    ("data__feature_columns", "Close", "data.feature_columns: expected list, got 'Close'"),
    ("data__feature_columns", ["Close", 3], "data.feature_columns: expected a non-empty list of column names"),
    ("name", None, "name: expected string, got None"),
    ("model", "lstm", "model: expected a mapping, got 'lstm'"),
    ("data__split", [0.8, 0.1, 0.1], "data.split: expected a mapping, got [0.8, 0.1, 0.1]"),
])
def test_wrong_type(folder, dotted, value, expected):
    assert error_of(make(**{dotted: value}), folder) == expected


def test_top_level_not_a_mapping(folder):
    assert error_of(["name", "x"], folder) == "config: expected a mapping, got ['name', 'x']"


# --- out of range / choices ----------------------------------------------------------------------

@pytest.mark.parametrize("dotted, value, expected", [
    ("model__type", "cnn", "model.type: must be one of simple_rnn, lstm, gru, transformer, got 'cnn'"),
    ("transform__scaling", "robust", "transform.scaling: must be one of standard, minmax, none, got 'robust'"),
    ("model__dropout", 0.95, "model.dropout: must be <= 0.9, got 0.95"),
    ("transform__lookback", 1, "transform.lookback: must be >= 2, got 1"),
    ("data__max_bad_fraction", -0.1, "data.max_bad_fraction: must be >= 0.0, got -0.1"),
    ("data__split__train", 1.5, "data.split.train: must be <= 1.0, got 1.5"),
    ("data__split__train", 0.5, "data.split: train + eval + test must add up to 1"),
    ("transform__log_returns", ["Open"], "transform.log_returns: 'Open' is not a feature column"),
])
def test_value_out_of_range_or_choices(folder, dotted, value, expected):
    assert error_of(make(**{dotted: value}), folder) == expected


def test_zero_test_fraction_rejected(folder):
    raw = make(data__split={"train": 0.9, "eval": 0.1, "test": 0.0})
    assert error_of(raw, folder) == "data.split: train and test fractions must be above 0"


# --- missing keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("dotted, expected", [
    ("name", "name: missing required key"),
    ("data__time_column", "data.time_column: missing required key"),
    ("data__target_column", "data.target_column: missing required key"),
    ("data", "data: missing required section"),
])
def test_missing_required(folder, dotted, expected):
    assert error_of(make(**{dotted: DELETE}), folder) == expected


# --- data file and columns -----------------------------------------------------------------------

def test_missing_data_file(folder):
    message = error_of(make(data__path="nope/prices.csv"), folder)
    assert message == f"data.path: file not found: {folder / 'nope' / 'prices.csv'}"


@pytest.mark.parametrize("dotted, value, key", [
    ("data__feature_columns", ["Volume", "Adj Close"], "data.feature_columns"),
    ("data__time_column", "Timestamp", "data.time_column"),
    ("data__target_column", "close", "data.target_column"),
    ("data__series_id_column", "Ticker", "data.series_id_column"),
])
def test_missing_column_names_column_and_file(folder, dotted, value, key):
    column = value[-1] if isinstance(value, list) else value
    message = error_of(make(**{dotted: value}), folder)
    assert message == (f"{key}: column '{column}' not in {folder / 'prices.csv'} "
                       "(columns: Date, Open, High, Low, Close, Volume, OpenInt)")


def test_header_with_utf8_bom_still_matches_columns(folder):
    # Spreadsheet exports often start with a byte-order mark; 'Date' must still be found.
    (folder / "prices.csv").write_bytes(b"\xef\xbb\xbf" + CSV_TEXT.encode())
    cfg = validate_config(make(), base_dir=str(folder))
    assert cfg["data"]["time_column"] == "Date"


def test_zero_byte_data_file(folder):
    (folder / "prices.csv").write_bytes(b"")
    message = error_of(make(), folder)
    assert message == f"data.path: {folder / 'prices.csv'} is empty (no header row)"


# --- load_config: files and YAML -----------------------------------------------------------------

def write_yaml(folder, raw, name="pipeline.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_load_config_resolves_paths_against_config_folder(folder, monkeypatch, tmp_path_factory):
    path = write_yaml(folder, make())
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    cfg = load_config(str(path))
    assert cfg["data"]["path"] == str(folder / "prices.csv")


def test_load_config_missing_file(folder):
    with pytest.raises(ConfigError, match=r"^config file not found: .*absent\.yaml$"):
        load_config(str(folder / "absent.yaml"))


def test_invalid_yaml_names_file_and_line(folder):
    path = folder / "pipeline.yaml"
    path.write_text("name: unit\ndata:\n  path: prices.csv\n  feature_columns: [Close\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert message.startswith(f"{path} line 5: invalid YAML (")
    assert "\n" not in message


def test_yaml_with_control_character_is_one_line(folder):
    path = folder / "pipeline.yaml"
    path.write_bytes(b"name: a\x00b\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: invalid YAML (unacceptable character #x0000")
    assert "\n" not in message


def test_non_utf8_config_is_a_config_error(folder):
    path = folder / "pipeline.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 9: "):
        load_config(str(path))


def test_empty_config_file_reports_first_missing_key(folder):
    path = folder / "pipeline.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^name: missing required key$"):
        load_config(str(path))


# --- through the CLI -----------------------------------------------------------------------------

def write_raw(folder, data: bytes):
    path = folder / "p.yaml"
    path.write_bytes(data)
    return path


# nine levels of nine aliases: 9^9 values once expanded, a few hundred bytes of YAML
ALIAS_BOMB = ("name: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"k{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))).encode()

CLI_CASES = {
    "unknown_key": (lambda f: write_yaml(f, make(model__typ="lstm")),
                    "model.typ: unknown key (did you mean 'type'?)"),
    "wrong_type": (lambda f: write_yaml(f, make(training__epochs="ten")),
                   "training.epochs: expected integer, got 'ten'"),
    "out_of_range": (lambda f: write_yaml(f, make(model__dropout=2)),
                     "model.dropout: must be <= 0.9, got 2"),
    "missing_key": (lambda f: write_yaml(f, make(name=DELETE)), "name: missing required key"),
    "missing_column": (lambda f: write_yaml(f, make(data__target_column="Price")),
                       "data.target_column: column 'Price' not in"),
    "missing_data": (lambda f: write_yaml(f, make(data__path="gone.csv")),
                     "data.path: file not found:"),
    "invalid_yaml": (lambda f: write_raw(f, b"name: [x\n"),
                     "line 2: invalid YAML"),
    "control_char": (lambda f: write_raw(f, b"name: \x07\n"),
                     "invalid YAML (unacceptable character"),
    "latin1": (lambda f: write_raw(f, b"name: caf\xe9\n"),
               "not UTF-8 text"),
    "no_such_config": (lambda f: f / "absent.yaml", "config file not found"),
    "config_is_a_folder": (lambda f: f, "is a folder, not a YAML file"),
    "utf16_data": (lambda f: (f / "prices.csv").write_bytes(CSV_TEXT.encode("utf-16"))
                   and write_yaml(f, make()),
                   "prices.csv line 1 (the header) is not UTF-8 text"),
    "data_is_a_folder": (lambda f: write_yaml(f, make(data__path=".")),
                         "is a folder; give a CSV file"),
    "name_escapes": (lambda f: write_yaml(f, make(name="../../evil")),
                     "name: must be 1 to 100 letters, digits"),
    "empty_name": (lambda f: write_yaml(f, make(name="")), "name: must be 1 to 100 letters"),
    "model_name_escapes": (lambda f: write_yaml(f, make(pusher__model_name="../../../x")),
                           "pusher.model_name: must be 1 to 100 letters"),
    "nan_number": (lambda f: write_yaml(f, make(training__learning_rate=float("nan"))),
                   "training.learning_rate: expected a finite number, got nan"),
    "duplicate_key": (lambda f: write_raw(f, b"name: a\nname: b\n"),
                      "line 2: invalid YAML (duplicate key 'name')"),
    "alias_bomb": (lambda f: write_raw(f, ALIAS_BOMB), "an alias bomb"),
    "root_is_a_file": (lambda f: write_yaml(f, make(pipeline_root="prices.csv/run")),
                       "prices.csv is a file, not a folder"),
    "huge_model": (lambda f: write_yaml(f, make(model__units=100_000_000)),
                   "model: about 80,000,000,400,000,000 parameters (lstm, units 100000000"),
    "lookback_too_long": (lambda f: write_yaml(f, make(transform__lookback=60)),
                          "transform.lookback: 60 steps + horizon 1 need at least 61 rows, but "
                          "data.path has 60"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_config_error_is_one_line_exit_2(folder, case):
    build, expected = CLI_CASES[case]
    path = build(folder)
    env = dict(os.environ, PYTHONPATH=ROOT, MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlflow.db")
    proc = subprocess.run([sys.executable, "-m", "seqline", "run", str(path)],
                          cwd=str(folder), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("seqline: config error: ")
    assert expected in lines[0]
    assert proc.stdout == ""
    assert not (folder / "output").exists()
    assert not (folder / "mlflow.db").exists()


def test_a_read_only_pipeline_root_is_a_config_error(folder, monkeypatch):
    """The check asks ``os.access``, which is what a non-root user's permissions answer; the
    tests run as root, which ignores permission bits, so the answer for the folder is given."""
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if os.path.abspath(path) == str(locked) else access(path, mode, **kw)))
    path = write_yaml(folder, make(pipeline_root="locked/run"))
    with pytest.raises(ConfigError, match=r"^pipeline_root: .*locked is not writable \(in "):
        load_config(str(path))
