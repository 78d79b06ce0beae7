"""The config's JSON Schema and its Markdown reference: every key the loader accepts is in both,
every example validates, the schema refuses what the loader refuses, the docs file is current."""
from __future__ import annotations

import copy
import glob
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from seqline.pipeline.config_fields import Field, Section, check_value
from seqline.pipeline.config import _validate, schema, validate_config
from seqline.pipeline.config_reference import reference_markdown
from seqline.pipeline.config_schema import config_schema
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.yaml_loader import load_file
from tests.forecast_fixtures import ROOT

EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "pipeline.yaml")))
SCHEMA = config_schema()
VALIDATOR = Draft202012Validator(SCHEMA)
TUNING = {"search_space": {"units": [16, 32], "learning_rate": [1e-3, 1e-2]}}


def accepted_keys(path: str) -> tuple:
    """``(task, dotted keys)`` of the example at ``path`` as the loader's schema step fills them
    in (defaults included; with a tuning section, so its keys are there too)."""
    raw = load_file(path)
    raw["tuning"] = TUNING
    task = raw.get("task", "forecast")
    cfg = _validate(schema(task), raw, "", os.path.dirname(path))
    keys, stack = [], [("", cfg)]
    while stack:
        prefix, mapping = stack.pop()
        for key, value in mapping.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            else:
                keys.append(prefix + key)
    return task, keys


def schema_node(task: str, key: str) -> dict | None:
    node = SCHEMA["$defs"][task]
    for part in key.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    return node


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_examples_cover_every_task():
    tasks = {load_file(p).get("task", "forecast") for p in EXAMPLES}
    assert tasks == {"forecast", "classify", "label", "generate", "asr"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_every_example_config_validates_against_the_schema(path):
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in VALIDATOR.iter_errors(load_file(path))]
    assert errors == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_every_key_the_loader_accepts_is_in_the_schema_and_the_reference(path):
    task, keys = accepted_keys(path)
    reference = reference_markdown()
    assert len(keys) > 40
    assert [k for k in keys if schema_node(task, k) is None] == []
    assert [k for k in keys if f"| `{k}` |" not in reference] == []


def test_defaults_in_the_schema_are_the_loaders():
    task, keys = accepted_keys(EXAMPLES[0])
    defaults = _validate(schema(task), {"name": "x", "data": load_file(EXAMPLES[0])["data"]}, "",
                         ".")
    for key in ("model.units", "training.lr_schedule", "evaluation.blessing.max_mase"):
        section, *rest = key.split(".")
        value = defaults[section]
        for part in rest:
            value = value[part]
        assert schema_node(task, key)["default"] == value


STOCK = os.path.join(ROOT, "examples", "stock_forecast", "pipeline.yaml")


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"].update(typ="lstm"), "'typ' was unexpected"),
    (lambda c: c["model"].update(type="lstn"), "'lstn' is not one of"),
    (lambda c: c["training"].update(epochs=0), "0 is less than the minimum of 1"),
    (lambda c: c.update(task="forcast"), "'forcast' is not one of"),
    (lambda c: c.pop("name"), "'name' is a required property"),
    (lambda c: c.update(name="my pipeline"), "does not match"),
    (lambda c: c.update(tuning={"search_space": {"unit": [8]}}), "'unit' was unexpected"),
    (lambda c: c["model"].update(ensemble=["lstm"]), "is too short"),
])
def test_the_schema_refuses_what_the_loader_refuses(change, message):
    raw = load_file(STOCK)
    raw.setdefault("model", {})
    raw.setdefault("training", {})
    validate_config(copy.deepcopy(raw), os.path.dirname(STOCK))     # the example itself is fine
    change(raw)
    with pytest.raises(ConfigError):
        validate_config(copy.deepcopy(raw), os.path.dirname(STOCK))
    assert any(message in e.message for e in VALIDATOR.iter_errors(raw))


def _fields(section: Section, prefix: str = ""):
    for key, spec in section.fields.items():
        if isinstance(spec, Section):
            yield from _fields(spec, f"{prefix}{key}.")
        else:
            yield prefix + key, spec


FIELDS = sorted(_fields(schema("forecast")), key=lambda item: item[0])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 300),
                   st.floats(-2, 2, allow_nan=False), st.sampled_from(["lstm", "x y", "time", ""]),
                   st.lists(st.integers(0, 3), max_size=2))


def _loader_accepts(key: str, spec: Field, value) -> bool:
    try:
        check_value(key, spec, value)
        return True
    except ConfigError:
        return False


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), VALUES)
@example(next(f for f in FIELDS if f[0] == "training.epochs"), 3.0)   # an integral float
def test_a_value_the_loader_accepts_is_one_the_schema_accepts(item, value):
    key, spec = item
    assert isinstance(spec, Field)
    loader_ok = _loader_accepts(key, spec, value)
    if isinstance(value, float) and value.is_integer() and int in spec.types \
            and float not in spec.types:
        # JSON Schema's "integer" is any number with no fraction (0.0 too); the loader wants 0
        loader_ok = _loader_accepts(key, spec, int(value))
    node = schema_node("forecast", key)
    node = {k: v for k, v in node.items() if k not in ("items", "minItems")}
    assert Draft202012Validator(node).is_valid(value) == loader_ok, (key, value)


def test_the_committed_reference_is_up_to_date():
    with open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8") as fh:
        assert fh.read() == reference_markdown(), \
            "run: seqline config reference -o docs/configuration.md"


def test_cli_writes_the_schema_and_the_reference(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "seqline.schema.json"
    done = subprocess.run([sys.executable, "-m", "seqline", "config", "schema", "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == SCHEMA and os.listdir(tmp_path) == [out.name]
    done = subprocess.run([sys.executable, "-m", "seqline", "config", "reference"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == reference_markdown()
    bad = subprocess.run([sys.executable, "-m", "seqline", "config", "schema", "-o",
                          str(tmp_path / "missing" / "s.json")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing/s.json" in bad.stderr
