"""StatisticsGen, SchemaGen and ExampleValidator: exact statistics, the schema file, anomalies."""
from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorflow.core.example import example_pb2

from seqline.components import data_schema, data_stats, example_gen, statistics_gen
from seqline.components.exact_sum import exact, exact_sums
from seqline.pipeline.errors import ConfigError
from tests.forecast_fixtures import forecast_config, msft_slice, run_executor


def example(features: dict, label=None, series: str | None = None) -> bytes:
    """A tf.train.Example with ``feature/<name>`` floats (ints when given ints)."""
    ex = example_pb2.Example()
    f = ex.features.feature
    for name, values in features.items():
        values = values if isinstance(values, list) else [values]
        if values and isinstance(values[0], int):
            f[f"feature/{name}"].int64_list.value.extend(values)
        else:
            f[f"feature/{name}"].float_list.value.extend(values)
    if label is not None:
        f["label"].int64_list.value.append(label)
    if series is not None:
        f["meta/series_id"].bytes_list.value.append(series.encode())
    return ex.SerializeToString(deterministic=True)


def stats_of(records, parts: int = 1, seed: int = 0) -> dict:
    """Statistics of serialized records, accumulated in ``parts`` shuffled partitions."""
    fn = data_stats.ExampleStatsFn()
    records = list(records)
    random.Random(seed).shuffle(records)
    accs = []
    for i in range(parts):
        acc, part = fn.create_accumulator(), records[i::parts]
        for start in range(0, len(part), 3):     # batches of three
            acc = fn.add_input(acc, part[start:start + 3])
        accs.append(acc)
    random.Random(seed + 1).shuffle(accs)
    return data_stats.finish(fn.merge_accumulators(accs))


# --- statistics ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def msft_stats(tmp_path_factory):
    """StatisticsGen run on ExampleGen's output of 300 real MSFT rows."""
    tmp = tmp_path_factory.mktemp("stats")
    path = msft_slice(str(tmp / "msft.csv"), 300)
    cfg = forecast_config(tmp, path)
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    out = run_executor(statistics_gen, cfg, {"examples": gen["examples"]}, str(tmp / "stats"))
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return statistics_gen.load(out["statistics"]), rows, out["statistics"]


def test_statistics_match_numpy_on_real_rows(msft_stats):
    stats, rows, artifact = msft_stats
    assert stats["all"]["num_examples"] == 300
    assert {s: v["num_examples"] for s, v in stats["splits"].items()} == \
        {"train": 240, "eval": 30, "test": 30}
    for column in ("Close", "Volume"):
        values = np.array([float(r[column]) for r in rows], dtype=np.float32).astype(np.float64)
        f = stats["all"]["features"][column]
        assert f["type"] == "float" and f["count"] == 300 and f["missing"] == 0
        assert f["min"] == values.min() and f["max"] == values.max()
        assert f["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert f["std"] == pytest.approx(values.std(), rel=1e-9)
        expected = np.quantile(values, np.linspace(0, 1, 21), method="lower")
        np.testing.assert_allclose(f["quantiles"], expected, rtol=2 * data_stats.RELATIVE_ACCURACY)
    assert stats["all"]["series"] == {"count": 1, "min_length": 300, "max_length": 300,
                                      "mean_length": 300.0}
    assert artifact.properties["features"] == ["Close", "Volume"]


def test_statistics_do_not_depend_on_partitioning_or_order():
    rng = np.random.default_rng(1)
    records = [example({"a": float(x), "b": float(y)}, label=int(x > 0), series=f"s{i % 3}")
               for i, (x, y) in enumerate(rng.normal(0, 1e3, (500, 2)))]
    reference = json.dumps(stats_of(records), sort_keys=True)
    for parts, seed in ((2, 0), (7, 3), (31, 5)):
        assert json.dumps(stats_of(records, parts, seed), sort_keys=True) == reference


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(finite | st.sampled_from([5e-324, -0.0, 1.7976931348623157e308]), max_size=60))
def test_batch_sums_are_the_exact_sums_of_the_values(values):
    assert exact_sums(np.array(values, np.float64)) == (sum(exact(v) for v in values),
                                                        sum(exact(v) ** 2 for v in values))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(finite | st.sampled_from([1e-12, -1e-12, 9e-13, 0.0]), max_size=60))
def test_batch_sketch_counts_each_value_in_its_log_bucket(values):
    sketch = {"pos": {}, "neg": {}, "zero": 0}
    data_stats._sketch_add_all(sketch, np.array(values, np.float64))
    want = {"pos": {}, "neg": {}, "zero": 0}
    for x in values:
        if abs(x) < data_stats.TINY:
            want["zero"] += 1
        else:
            side = want["pos" if x > 0 else "neg"]
            key = math.ceil(math.log(abs(x)) / data_stats.LOG_GAMMA)
            side[key] = side.get(key, 0) + 1
    assert sketch == want


def test_statistics_do_not_depend_on_the_batch_size():
    rng = np.random.default_rng(2)
    records = [example({"a": [float(x)] * (i % 3), "n": i}, series=f"s{i % 4}")
               for i, x in enumerate(rng.normal(0, 1e3, 300))]
    fn = data_stats.ExampleStatsFn()
    one = [fn.add_input(fn.create_accumulator(), [r]) for r in records]
    reference = json.dumps(data_stats.finish(fn.merge_accumulators(one)), sort_keys=True)
    assert json.dumps(data_stats.finish(fn.add_input(fn.create_accumulator(), records)),
                      sort_keys=True) == reference


def test_missing_values_labels_and_sequence_lengths():
    records = [example({"a": [1.0, float("nan"), 3.0]}, label=0),
               example({"a": [2.0, 4.0]}, label=1),
               example({}, label=1)]
    stats = stats_of(records)
    a = stats["features"]["a"]
    assert (a["present"], a["count"], a["missing"]) == (2, 4, 2)   # one NaN, one absent
    assert a["value_length"] == {"min": 2, "max": 3, "mean": 2.5}
    assert a["mean"] == 2.5
    assert stats["labels"] == {"label": {"0": 1, "1": 2}}


# --- schema --------------------------------------------------------------------------------------

def clean_records(n=400, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return [example({"price": float(abs(p) + 1 + shift), "volume": float(v)}, label=int(p > 0))
            for p, v in zip(rng.normal(0, 1, n), rng.uniform(0, 100, n))]


def test_inferred_schema_round_trips_through_the_yaml_file(tmp_path):
    schema = data_schema.infer(stats_of(clean_records()), max_missing_fraction=0.05)
    assert schema["features"]["price"] == {"type": "float", "min": 0.0, "max": None,
                                           "max_missing_fraction": 0.05, "max_drift": None}
    assert schema["labels"] == {"label": {"values": ["0", "1"]}}
    path = tmp_path / "schema.yaml"
    data_schema.write(str(path), data_schema.render(schema, "400 examples"))
    assert path.read_text().startswith("# seqline data schema")
    assert data_schema.load(str(path)) == schema
    assert data_schema.validate(stats_of(clean_records(seed=1)), schema, None, None)[0] == []


@pytest.mark.parametrize("text, message", [
    ("features:\n  price: {type: float, mni: 0}\n", "features.price.mni: unknown key"),
    ("features:\n  price: {type: decimal}\n", "features.price.type: must be one of"),
    ("features:\n  price: {type: float, max: high}\n", "features.price.max: invalid value 'high'"),
    ("feature: {}\n", "expected a mapping with a 'features' mapping"),
    ("features: [price\n", "invalid YAML"),
])
def test_a_bad_schema_file_is_a_config_error_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        data_schema.load(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# --- anomalies -----------------------------------------------------------------------------------

def anomalies_of(records, schema, baseline=None, max_drift=None) -> dict:
    found, _ = data_schema.validate(stats_of(records), schema, baseline, max_drift)
    return {(a["feature"], a["kind"]): a["message"] for a in found}


def test_every_kind_of_anomaly_names_the_feature_and_the_observed_value():
    schema = data_schema.infer(stats_of(clean_records()), max_missing_fraction=0.05)
    broken = []
    for i, raw in enumerate(clean_records(seed=2)):
        parsed = example_pb2.Example.FromString(raw)
        price = parsed.features.feature["feature/price"].float_list.value[0]
        broken.append(example({"price": -999.0 if i % 10 == 0 else (float("nan") if i % 3 == 0 else price),
                               "volume": [7],                 # int now: a type change
                               "open": 1.0},                  # new column
                              label=2 if i == 0 else int(price > 1.5)))
    found = anomalies_of(broken, schema)
    assert set(found) == {("price", "below_min"), ("price", "too_many_missing"),
                          ("volume", "type_change"), ("open", "new_column"),
                          ("label", "new_label_value")}
    assert found[("price", "below_min")].startswith("smallest value -999 is below min 0 (about 40 of")
    assert "missing" in found[("price", "too_many_missing")] and "above max_missing_fraction 5.0%" \
        in found[("price", "too_many_missing")]
    assert found[("volume", "type_change")] == "values are int, the schema says float"
    assert found[("label", "new_label_value")].startswith("label values not in the schema: 2 (1 examples)")
    gone = [example({"price": 2.0}) for _ in range(10)]
    assert anomalies_of(gone, schema)[("volume", "missing_column")].startswith("column missing")


def test_drift_beyond_the_bound_is_an_anomaly_and_a_new_sample_is_not():
    base = stats_of(clean_records(seed=0))
    schema = data_schema.infer(base, max_missing_fraction=0.05)
    same, drift = data_schema.validate(stats_of(clean_records(seed=5)), schema, base, max_drift=0.1)
    assert same == [] and drift["price"] < 0.05 and drift["volume"] < 0.05
    found = anomalies_of(clean_records(seed=5, shift=1.5), schema, base, max_drift=0.1)
    assert list(found) == [("price", "drift")]
    assert "Jensen-Shannon divergence" in found[("price", "drift")]
    schema["features"]["price"]["max_drift"] = 0.99      # a per-feature bound wins
    assert anomalies_of(clean_records(seed=5, shift=1.5), schema, base, max_drift=0.1) == {}


def test_report_lists_each_anomaly_on_its_own_line():
    anomalies = [{"feature": "price", "kind": "below_min", "message": "smallest value -999 is below min 0"}]
    text = data_schema.report(anomalies, {"price": 0.5}, "spans [3]", "/x/schema.yaml")
    assert text.splitlines()[0] == "1 anomaly in spans [3] (schema: /x/schema.yaml)"
    assert "price" in text.splitlines()[1] and "-999" in text.splitlines()[1]


def test_classification_records_are_validated_per_column_with_their_labels(tmp_path):
    """Sequence records (one per series, values row-major) reach the statistics as one feature
    per column, the sequence length as its value length, and the label counts; a later batch
    with a new label or a sign change is an anomaly."""
    from tests.sequence_fixtures import MOTION_FEATURES, classify_config, motions_slice

    train = motions_slice(tmp_path / "train.csv", "train", 2)
    test = motions_slice(tmp_path / "test.csv", "test", 1)
    cfg = classify_config(tmp_path, {"path": train, "test_path": test, "split": {"eval": 0.0}})
    gen = run_executor(example_gen, cfg, {}, str(tmp_path / "gen"))
    stats = statistics_gen.load(run_executor(statistics_gen, cfg, {"examples": gen["examples"]},
                                             str(tmp_path / "stats"))["statistics"])["all"]
    assert stats["num_examples"] == 12 and set(stats["features"]) == set(MOTION_FEATURES)
    rows = []
    for path in (train, test):
        with open(path) as fh:
            rows += list(csv.DictReader(fh))
    for column in MOTION_FEATURES:
        values = np.array([float(r[column]) for r in rows], np.float32).astype(np.float64)
        f = stats["features"][column]
        assert f["count"] == len(rows) == 1200 and f["value_length"] == {"min": 100, "max": 100,
                                                                          "mean": 100.0}
        assert f["min"] == values.min() and f["max"] == values.max()
    assert stats["labels"]["label"] == {"Badminton": 3, "Running": 3, "Standing": 3, "Walking": 3}
    assert stats["series"]["count"] == 12
    schema = data_schema.infer(stats, 0.01)
    later = dict(stats, labels={"label": {**stats["labels"]["label"], "Jumping": 1}})
    anomalies, _ = data_schema.validate(later, schema, None, None)
    assert any("Jumping" in str(a) for a in anomalies)


def test_a_schema_file_listing_no_feature_is_inferred_again(msft_stats, tmp_path):
    """A schema written when this task's statistics had no features checks nothing: SchemaGen
    infers it again (and keeps a file that lists features as it is)."""
    from seqline.components import schema_gen
    from seqline.pipeline.artifacts import Artifact
    from seqline.pipeline.component import Context

    _, _, statistics = msft_stats
    path = tmp_path / "schema.yaml"
    data_schema.write(str(path), data_schema.render({"features": {}}, "an older version"))
    params = {"schema_path": str(path), "max_missing_fraction": 0.01}
    echoed = []
    out = {"schema": Artifact("Schema", str(tmp_path / "out1"))}
    metrics = schema_gen.execute({"statistics": statistics}, out, params, Context(echo=echoed.append))
    assert metrics == {"features": 2, "inferred": True}
    assert any("lists no feature" in line for line in echoed)
    out = {"schema": Artifact("Schema", str(tmp_path / "out2"))}
    assert schema_gen.execute({"statistics": statistics}, out, params, Context())["inferred"] is False
