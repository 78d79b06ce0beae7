"""ExampleGen and Transform of classify and label: Beam transforms, bad input, splits, and the
transform graph against the Beam path, on slices of the real example data."""
from __future__ import annotations

import csv
import json
import math

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from seqline.components import example_gen, transform
from seqline.components.split_io import SPLITS, split_pattern
from seqline.components.tasks.sequence import labeled_csv as lc
from seqline.components.tasks.sequence import numerics as sm
from seqline.components.tasks.csv_beam import ParseRows
from seqline.components.tasks.sequence.codec import decode
from seqline.components.tasks.sequence.data import load_arrays
from seqline.components.tasks.sequence.example_gen import check_group, position_pieces
from seqline.pipeline.errors import DataError
from tests.forecast_fixtures import run_executor
from tests.sequence_fixtures import (ECG, classify_config, label_config, motions_slice,
                                     read_rows, write_csv)


def split_examples(examples, n_features: int) -> dict:
    """Decoded sequences of every split of an Examples artifact."""
    out = {}
    for split in SPLITS:
        files = tf.io.gfile.glob(split_pattern(examples.uri, split))
        data = tf.data.TFRecordDataset(files, compression_type="GZIP")
        out[split] = [decode(d.numpy(), n_features) for d in data]
    return out


def quarantined(quarantine) -> list:
    with open(quarantine.path("quarantine.csv"), encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- Beam transforms --------------------------------------------------------------------------

def test_parse_rows_tags_bad_labeled_rows(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["sid", "t", "a", "label"],
                     [["s", "0", "1.0", "x"], ["s", "1", "oops", "x"], ["s", "2", "3", ""]])
    spec = lc.LabeledSpec(("a",), "label", "sid", "t")
    with TestPipeline() as p:
        parsed = p | beam.Create([path]) | ParseRows(spec, lc.parse_labeled_row)
        assert_that(parsed.records | beam.Map(lambda r: (r.row, r.label, r.values)),
                    equal_to([(2, "x", (1.0,))]), label="records")
        assert_that(parsed.rejected | beam.Map(lambda r: (r.row, r.reason)),
                    equal_to([(3, "column 'a': 'oops' is not a number"),
                              (4, "column 'label': missing label")]), label="rejected")


def test_grouped_series_are_checked_and_cut_into_time_ordered_pieces():
    def rec(series, t, label):
        return lc.LabeledRecord(series, t, str(t), t + 2, (float(t),), "f.csv", label)

    rows = [rec("s1", t, "a" if t < 6 else "b") for t in reversed(range(10))]
    rows += [rec("s2", 0, "a"), rec("s2", 0, "a")]           # duplicate time
    with TestPipeline() as p:
        checked = (p | beam.Create(rows) | beam.Map(lambda r: (("f.csv", r.series_id), r))
                   | beam.GroupByKey() | beam.Map(check_group, ("x",), 5, False))
        pieces = checked | beam.FlatMap(position_pieces, {"train": 0.6, "eval": 0.2, "test": 0.2})
        assert_that(pieces | beam.MapTuple(lambda split, s: (s.series_id, split, s.start,
                                                            "".join(s.labels))),
                    equal_to([("s1", "train", 0, "aaa"), ("s1", "eval", 3, "aa"),
                              ("s1", "test", 5, "ab"), ("s1", "train", 7, "bbb"),
                              ("s2", "train", 0, "a")]), label="pieces")
        assert_that(checked | beam.FlatMap(lambda c: [r.row for r in c[2]]), equal_to([2]),
                    label="rejected")


# --- classify: ExampleGen ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def motions(tmp_path_factory):
    """Train (3 series per activity) with bad rows injected, and a test file (2 per activity)."""
    tmp = tmp_path_factory.mktemp("motions")
    header, rows = read_rows(motions_slice(tmp / "train_raw.csv", "train", 3))
    test = motions_slice(tmp / "test.csv", "test", 2)
    rows[5][2] = "n/a?"                      # bad number
    rows[150][-1] = ""                       # missing label
    rows[250] = list(rows[249])              # duplicate t (same step twice)
    first = {r[0] for r in rows[300:400]}    # one whole series gets a second label
    bad_series = sorted(first)[0]
    for r in rows:
        if r[0] == bad_series and r[1] == "50":
            r[-1] = "Running" if r[-1] != "Running" else "Walking"
    train = write_csv(tmp / "train.csv", header, rows)
    cfg = classify_config(tmp, {"path": train, "test_path": test, "max_bad_fraction": 0.1})
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    return tmp, cfg, gen, rows, bad_series


def test_every_row_is_in_one_split_or_in_quarantine(motions):
    _, _, gen, rows, bad_series = motions
    seqs = split_examples(gen["examples"], 6)
    kept = sum(s.length for split in seqs.values() for s in split)
    bad = quarantined(gen["quarantine"])
    assert kept + len(bad) == len(rows) + 8 * 100            # train rows + test rows
    reasons = {int(r["row"]): r["reason"] for r in bad}
    assert reasons[7] == "column 'dim_0': 'n/a?' is not a number"
    assert reasons[152] == "column 'label': missing label"
    assert "duplicate timestamp" in reasons[252]
    whole = [r for r in bad if r["reason"].startswith(f"series '{bad_series}' has several labels")]
    assert len(whole) == 100 and bad_series not in {s.series_id for s in seqs["train"]}


def test_series_split_eval_from_train_per_label_and_test_from_the_test_file(motions):
    _, _, gen, rows, bad_series = motions
    seqs = split_examples(gen["examples"], 6)
    ids = {split: {s.series_id for s in seqs[split]} for split in SPLITS}
    assert all(i.startswith("test") for i in ids["test"]) and len(ids["test"]) == 8
    assert not ids["train"] & ids["eval"]
    # 3 train series per activity, one quarantined: 20% of 3 is 1 eval series, of 2 none
    short = next(r[-1] for r in rows if r[0] == bad_series and r[1] == "0")
    eval_labels = sorted(s.labels[0] for s in seqs["eval"])
    assert eval_labels == sorted({"Badminton", "Running", "Standing", "Walking"} - {short})
    assert gen["examples"].properties["split_counts"] == {"train": 8, "eval": 3, "test": 8}


def test_too_many_bad_rows_stop_with_the_first_reasons(tmp_path):
    header, rows = read_rows(motions_slice(tmp_path / "raw.csv", "train", 1))
    for r in rows[:50]:
        r[3] = "bad"
    path = write_csv(tmp_path / "bad.csv", header, rows)
    cfg = classify_config(tmp_path, {"path": path, "split": {"test": 0.5}})
    with pytest.raises(DataError, match=r"50 of 400 rows are bad .* row 2: column 'dim_1'"):
        run_executor(example_gen, cfg, {}, str(tmp_path / "gen"))


# --- classify: variable lengths, split column, Transform ------------------------------------

@pytest.fixture(scope="module")
def variable(tmp_path_factory):
    """One file with a split column and series cut to different lengths (40..100 steps)."""
    tmp = tmp_path_factory.mktemp("variable")
    header, rows = read_rows(motions_slice(tmp / "raw.csv", "train", 4))
    keep, part = [], {}
    for r in rows:
        index = int(r[0][-2:])
        part.setdefault(r[0], "test" if len(part) % 4 == 3 else "train")
        if int(r[1]) < 40 + 15 * (index % 5):
            keep.append(r + [part[r[0]]])
    path = write_csv(tmp / "data.csv", header + ["part"], keep)
    cfg = classify_config(tmp, {"path": path, "split_column": "part", "split": {"eval": 0.25}},
                          transform={"max_length": 80})
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    return cfg, gen, out, keep


def test_split_column_and_variable_lengths_reach_the_transformed_examples(variable):
    _, gen, out, keep = variable
    counts = gen["examples"].properties["split_counts"]
    assert counts["test"] == 4 and counts["train"] + counts["eval"] == 12 and counts["eval"] >= 3
    examples = out["transformed_examples"]
    assert examples.properties["steps"] == 80
    lengths = {}
    for r in keep:
        lengths[r[0]] = lengths.get(r[0], 0) + 1
    data = load_arrays(split_pattern(examples.uri, "test"), examples.properties)
    for sid, length, x in zip(data["meta/series_id"], data["length"], data["x"]):
        assert length == min(lengths[sid], 80)
        np.testing.assert_array_equal(x[:, -1], np.arange(80) < length)   # valid-step indicator
        assert not x[length:].any()


def test_graph_matches_beam_and_statistics_come_from_train_only(variable):
    _, gen, out, keep = variable
    examples, graph = out["transformed_examples"], out["transform_graph"]
    with open(graph.path("params.json")) as fh:
        params = sm.SequenceParams(**json.load(fh))
    module = tf.saved_model.load(graph.path("graph"))
    for split in ("train", "test"):
        data = load_arrays(split_pattern(examples.uri, split), examples.properties)
        got = module.transform(tf.constant(data["series"]), tf.constant(data["length"], tf.int32))
        np.testing.assert_allclose(got.numpy(), data["x"], atol=1e-5)
    train_ids = {s.series_id for s in split_examples(gen["examples"], 6)["train"]}
    train = np.array([[float(v) for v in r[2:8]] for r in keep if r[0] in train_ids])
    np.testing.assert_allclose(params.center, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(params.scale, train.std(0), rtol=1e-5)
    everything = np.array([[float(v) for v in r[2:8]] for r in keep])
    assert not np.allclose(params.center, everything.mean(0), rtol=1e-3)
    assert params.classes == ["Badminton", "Running", "Standing", "Walking"]
    assert out["transform_graph"].properties["n_classes"] == 4


# --- label: ExampleGen and Transform ----------------------------------------------------------

@pytest.fixture(scope="module")
def ecg(tmp_path_factory):
    """The last 2,000 rows of the real ECG (its abnormal stretch included), one missing value."""
    tmp = tmp_path_factory.mktemp("ecg")
    header, rows = read_rows(ECG)
    rows = rows[-2000:]
    rows[10][0] = ""
    path = write_csv(tmp / "ecg.csv", header, rows)
    cfg = label_config(tmp, path, data={"path": path, "feature_columns": ["data"],
                                        "label_column": "label",
                                        "split": {"train": 0.8, "eval": 0.1, "test": 0.1}},
                       transform={"window": 120, "stride": 40, "class_weights": "balanced"})
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    return cfg, gen, out, rows


def test_label_pieces_are_time_ordered_and_windows_cover_them(ecg):
    _, gen, out, rows = ecg
    seqs = split_examples(gen["examples"], 1)
    # abnormal samples 1436..1787: at the end (1800..2000) test would have none, so eval and
    # test move back to end at 1900; train keeps 1436..1499 before them and 1900..1999 after
    assert sorted((s.start, s.length, split) for split in SPLITS for s in seqs[split]) == [
        (0, 1500, "train"), (1500, 200, "eval"), (1700, 200, "test"), (1900, 100, "train")]
    first = min(seqs["train"], key=lambda s: s.start)
    assert first.labels == [r[1] for r in rows[:1500]]
    assert math.isnan(first.values[10, 0])
    assert set(seqs["test"][0].labels) == {"0", "1"}
    counts = out["transformed_examples"].properties["split_counts"]
    assert counts == {"train": 38 + 3, "eval": 5, "test": 5}      # ceil(n / stride 40)


def test_label_windows_carry_masked_weights_and_match_the_graph(ecg):
    _, _, out, rows = ecg
    examples, graph = out["transformed_examples"], out["transform_graph"]
    with open(graph.path("params.json")) as fh:
        params = sm.SequenceParams(**json.load(fh))
    assert params.classes == ["0", "1"] and params.class_weights[1] > params.class_weights[0]
    data = load_arrays(split_pattern(examples.uri, "train"), examples.properties)
    module = tf.saved_model.load(graph.path("graph"))
    got = module.transform(tf.constant(data["series"]), tf.constant(data["length"], tf.int32))
    np.testing.assert_allclose(got.numpy(), data["x"], atol=1e-5)
    last = int(np.argmax(data["meta/start"]))
    assert data["length"][last] == 1500 - 37 * 40 and not data["w"][last, 20:].any()
    window = data["meta/start"].tolist().index(6 * 40)
    np.testing.assert_array_equal(data["y"][window], [int(r[1]) for r in rows[240:360]])


def test_the_default_label_split_puts_a_rare_class_of_the_middle_in_test(tmp_path):
    """Generated series: a sine wave, 'spike' only on steps 500..579 of series b (of 1,000), so
    the default 70/15/15 split at the end would leave test without it."""
    rows = [[f"{np.sin(i / 7):.4f}", "spike" if sid == "b" and 500 <= i < 580 else "flat", sid]
            for sid in ("a", "b") for i in range(1000)]
    path = write_csv(tmp_path / "gen.csv", ["data", "label", "sid"], rows)
    cfg = label_config(tmp_path, path, data={"path": path, "feature_columns": ["data"],
                                             "label_column": "label", "series_id_column": "sid",
                                             "split": {"train": 0.7, "eval": 0.15, "test": 0.15}})
    gen = run_executor(example_gen, cfg, {}, str(tmp_path / "gen"))
    counts = gen["examples"].properties["class_counts"]
    assert counts["test"]["spike"] > 0 and counts["train"]["spike"] > 0
    pieces = sorted((s.series_id, s.start, s.length, split)
                    for split, found in split_examples(gen["examples"], 1).items() for s in found)
    assert pieces == [("a", 0, 700, "train"), ("a", 700, 150, "eval"), ("a", 850, 150, "test"),
                      ("b", 0, 250, "train"), ("b", 250, 150, "eval"), ("b", 400, 150, "test"),
                      ("b", 550, 450, "train")]
