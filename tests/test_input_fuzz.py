"""Property-based tests of the parsers that read outside input: the CSV rows ExampleGen reads
and the YAML config loader. Fixed seeds and example counts keep their CI time bounded."""
from __future__ import annotations

import csv
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqline.components.tasks import csv_records as cr
from seqline.pipeline.config import load_config, validate_config
from seqline.pipeline.errors import ConfigError, DataError

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
SPEC = cr.RowSpec("time", ("a", "b"))

numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False).map(repr),
                    st.integers(-10**40, 10**40).map(str),
                    st.sampled_from(["1e308", "-1e39", "1e-320", "3.4e38", "inf", "nan", "",
                                     "NA", " 12 ", "1,5", "0x10", "--1"]))
junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
cells = st.one_of(numbers, junk)
dates = st.one_of(st.dates().map(str), junk)
rows = st.lists(st.tuples(dates, cells, cells) | st.lists(cells, max_size=5).map(tuple),
                max_size=25)


def _csv_bytes(data_rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "a", "b"])
    writer.writerows(data_rows)
    return out.getvalue().encode()


def _expected(row) -> object:
    """What ExampleGen must make of one written row: ``None`` (a blank row, skipped), a tuple of
    values, or ``"rejected"``."""
    if all(not str(c).strip() for c in row):
        return None
    if len(row) != 3:
        return "rejected"
    try:
        cr.parse_time(row[0].strip(), None)
        return tuple(cr.parse_number(c) for c in row[1:])
    except ValueError:
        return "rejected"


@FUZZ
@given(rows)
def test_every_csv_row_arrives_intact_or_is_rejected_with_a_reason(tmp_path_factory, data_rows):
    path = tmp_path_factory.mktemp("fuzz") / "data.csv"
    path.write_bytes(_csv_bytes(data_rows))
    results = {n: cr.parse_row((p, n, c), SPEC) for p, n, c in cr.read_rows(str(path))}
    for number, row in enumerate(data_rows, start=2):
        expected, got = _expected(row), results.pop(number, None)
        if expected is None:
            assert got is None
        elif expected == "rejected":
            assert isinstance(got, cr.Rejected) and got.reason and got.row == number
        else:
            assert isinstance(got, cr.Record) and got.row == number
            assert all(math.isnan(g) if math.isnan(e) else g == e
                       for g, e in zip(got.values, expected))
    assert not results          # no row appears that was not written


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_give_rows_or_one_data_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("bytes") / "data.csv"
    path.write_bytes(b"time,a,b\n" + blob)
    try:
        for p, n, c in cr.read_rows(str(path)):
            got = cr.parse_row((p, n, c), SPEC)
            assert isinstance(got, (cr.Record, cr.Rejected))
    except DataError as exc:
        assert "is not UTF-8 text" in str(exc) and "\n" not in str(exc)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | junk,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "task", "data", "model", "training", "path", "units", "x"]),
        inner, max_size=4),
    max_leaves=20)


@FUZZ
@given(st.one_of(yaml_values.map(lambda v: __import__("yaml").safe_dump(v).encode()),
                 st.binary(max_size=200), junk.map(str.encode)))
def test_any_config_file_is_valid_or_one_config_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("yaml") / "pipeline.yaml"
    path.write_bytes(document)
    try:
        load_config(str(path))
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        pytest.fail("a random document passed as a config")   # it needs name and data.path


def _dotted_keys(section, prefix="") -> list:
    from seqline.pipeline.config_fields import Section

    keys = []
    for name, spec in section.fields.items():
        keys.append(prefix + name)
        if isinstance(spec, Section):
            keys += _dotted_keys(spec, f"{prefix}{name}.")
    return keys


@pytest.fixture(scope="module")
def valid_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("valid")
    (folder / "prices.csv").write_text("Date,Close,Volume\n" + "".join(
        f"2020-01-{1 + i % 28:02d}T{i // 28:02d}:00:00,{100 + i},{1000 + i}\n" for i in range(80)))
    return folder


@FUZZ
@given(st.sampled_from(_dotted_keys(__import__("seqline.pipeline.config", fromlist=["schema"])
                                    .schema("forecast"))), yaml_values)
def test_any_value_under_any_key_is_accepted_or_one_config_error(valid_folder, key, value):
    import yaml

    cfg = {"name": "fuzz", "data": {"path": "prices.csv", "time_column": "Date",
                                    "feature_columns": ["Volume"], "target_column": "Close"},
           "pipeline_root": "out/pipeline"}
    *parents, last = key.split(".")
    node = cfg
    for name in parents:
        node = node.setdefault(name, {}) if isinstance(node.get(name, {}), dict) else {}
    node[last] = value
    path = valid_folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    try:
        load_config(str(path))
    except (ConfigError, DataError) as exc:
        assert str(exc) and "\n" not in str(exc)


@pytest.fixture(scope="module")
def speech_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    (folder / "manifest.csv").write_text("path,transcript,speaker,channel\nclip.wav,one two,a,clean\n")
    return folder


SPEECH_KEYS = ["data.condition_columns", "transform.waveform_augment"] + [
    f"transform.waveform_augment.{k}" for k in ("speeds", "gain_db", "noise_prob", "noise_kinds",
                                                "noise_snr_db", "reverb_prob", "rt60",
                                                "telephone_prob", "codec_prob")]


@FUZZ
@given(st.sampled_from(SPEECH_KEYS), yaml_values | st.lists(st.floats(-5, 5), max_size=3))
def test_any_augmentation_or_condition_value_is_accepted_or_one_config_error(speech_folder, key, value):
    cfg = {"name": "fuzz", "task": "asr", "data": {"path": "manifest.csv"}}
    *parents, last = key.split(".")
    node = cfg
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value
    try:
        validate_config(cfg, base_dir=str(speech_folder))
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
