"""Pure functions of the classification tasks: row parsing, series checks, splits, padding,
windows and stitching, metrics and blessing."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqline.components.split_io import SPLITS
from seqline.components.tasks import csv_records as cr
from seqline.components.tasks.sequence import labeled_csv as lc
from seqline.components.tasks.sequence import numerics as sm
from seqline.components.tasks.sequence.metrics import bless, classification_report, majority_label

SPEC = lc.LabeledSpec(("a", "b"), "label", "sid", "t")


def item(row=2, **cells):
    base = {"sid": "s1", "t": "3", "a": "1.5", "b": "", "label": "walk"}
    return "data.csv", row, {**base, **cells}


# --- parsing --------------------------------------------------------------------------------

def test_a_good_row_keeps_values_label_and_numeric_time():
    rec = lc.parse_labeled_row(item(), SPEC)
    assert (rec.series_id, rec.timestamp, rec.label, rec.split) == ("s1", 3.0, "walk", "")
    assert rec.values[0] == 1.5 and math.isnan(rec.values[1])   # empty cell = missing


def test_iso_times_sort_as_microseconds_and_no_time_column_means_row_order():
    rec = lc.parse_labeled_row(item(t="2020-01-01T00:00:01"), SPEC)
    assert rec.timestamp == 1577836801 * 10 ** 6
    spec = lc.LabeledSpec(("a",), "label")
    rec = lc.parse_labeled_row(item(row=17), spec)
    assert (rec.timestamp, rec.series_id) == (17, "")


@pytest.mark.parametrize("cells, reason", [
    ({"a": "x1"}, "column 'a': 'x1' is not a number"),
    ({"label": " "}, "column 'label': missing label"),
    ({"label": "NA"}, "column 'label': missing label"),
    ({"t": "yesterday"}, "column 't': bad time 'yesterday'"),
    ({"t": "inf"}, "column 't': bad time 'inf'"),
])
def test_bad_rows_are_rejected_with_the_field_named(cells, reason):
    got = lc.parse_labeled_row(item(row=9, **cells), SPEC)
    assert isinstance(got, cr.Rejected) and got.row == 9 and got.file == "data.csv"
    assert got.reason.startswith(reason)


def test_split_column_values_and_the_split_of_a_whole_file():
    spec = lc.LabeledSpec(("a",), "label", "sid", "t", split_column="part")
    assert lc.parse_labeled_row(item(part=" Test "), spec).split == "test"
    bad = lc.parse_labeled_row(item(part="holdout"), spec)
    assert bad.reason == "column 'part': 'holdout' is not train, eval or test"
    assert lc.parse_labeled_row(item(), SPEC, given_split="test").split == "test"
    assert lc.parse_labeled_row(item(part="train"), spec, given_split="test").split == "test"


# --- series checks ----------------------------------------------------------------------------

def records(labels, splits=None, series="s1"):
    splits = splits or [""] * len(labels)
    return [lc.LabeledRecord(series, t, str(t), t + 2, (float(t),), "f.csv", lab, sp)
            for t, (lab, sp) in enumerate(zip(labels, splits))]


def test_a_series_with_two_labels_is_rejected_whole_with_the_counts():
    rejected = lc.series_consistency("s1", records(["walk", "walk", "run"]))
    assert [r.row for r in rejected] == [2, 3, 4]
    assert rejected[0].reason == ("series 's1' has several labels (run: 1 rows, walk: 2 rows); "
                                  "a series needs one")
    assert lc.series_consistency("s1", records(["walk"] * 3)) == []


def test_a_series_in_two_splits_is_rejected_whole():
    rejected = lc.series_consistency("s1", records(["a", "a"], ["train", "test"]))
    assert len(rejected) == 2 and "several splits (test: 1 rows, train: 1 rows)" in rejected[0].reason


def test_duplicate_times_inside_a_labeled_series_are_rejected():
    recs = records(["a"] * 3)
    dup = lc.LabeledRecord("s1", 1, "1", 9, (0.0,), "f.csv", "a")
    kept, rejected, _ = cr.check_series("s1", recs + [dup], ("x",), 5)
    assert len(kept) == 3 and rejected[0].row == 9 and "duplicate timestamp 1" in rejected[0].reason


# --- splits -----------------------------------------------------------------------------------

SERIES = [(f"{label}{i}", label, "") for label in ("a", "b", "c") for i in range(10)]


def test_held_out_series_are_stratified_deterministic_and_depend_on_the_seed():
    first = lc.assign_series_splits(SERIES, 0.2, 0.3, seed=1)
    assert first == lc.assign_series_splits(list(reversed(SERIES)), 0.2, 0.3, seed=1)
    for label in "abc":
        counts = Counter(s for key, s in first.items() if key.startswith(label))
        assert counts == {"train": 6, "eval": 1, "test": 3}   # eval: 20% of the 7 left
    assert first != lc.assign_series_splits(SERIES, 0.2, 0.3, seed=2)


def test_given_splits_are_kept_and_only_eval_is_carved_from_train():
    series = [(f"tr{i}", "a", "") for i in range(5)] + [(f"te{i}", "a", "test") for i in range(3)]
    splits = lc.assign_series_splits(series, 0.4, 0.3, seed=0)
    assert Counter(splits.values()) == {"train": 3, "eval": 2, "test": 3}
    assert all(splits[f"te{i}"] == "test" for i in range(3))
    given_eval = series + [("ev", "a", "eval")]
    assert Counter(lc.assign_series_splits(given_eval, 0.4, 0.3, 0).values())["eval"] == 1


def test_every_label_keeps_a_train_series():
    splits = lc.assign_series_splits([("only", "rare", ""), ("x", "b", ""), ("y", "b", "")],
                                     0.5, 0.5, seed=3)
    assert splits["only"] == "train"


def test_position_segments_are_contiguous_and_time_ordered():
    assert lc.position_segments(["x"] * 100, {"train": 0.7, "eval": 0.1, "test": 0.2}) == [
        ("train", 0, 70), ("eval", 70, 80), ("test", 80, 100)]
    assert lc.position_segments(["x"] * 10, {"train": 0.9, "eval": 0.0, "test": 0.1}) == [
        ("train", 0, 9), ("test", 9, 10)]


def rare_stretch(n: int = 1000, start: int = 400, length: int = 120) -> list:
    """Step labels of a generated series: ``normal`` except one stretch of ``rare``."""
    return ["rare" if start <= i < start + length else "normal" for i in range(n)]


def labels_of(labels: list, segments: list) -> dict:
    found = {}
    for split, start, end in segments:
        found.setdefault(split, set()).update(labels[start:end])
    return found


def test_a_rare_stretch_mid_series_moves_the_held_out_stretch_over_it():
    labels = rare_stretch()
    default = {"train": 0.7, "eval": 0.15, "test": 0.15}    # test would be 850..1000: no rare
    segments = lc.position_segments(labels, default)
    assert segments == [("train", 0, 200), ("eval", 200, 350), ("test", 350, 500),
                        ("train", 500, 1000)]               # the latest end (every 50) that works
    assert labels_of(labels, segments) == {"train": {"normal", "rare"}, "eval": {"normal"},
                                           "test": {"normal", "rare"}}
    assert lc.position_segments(list(labels), default) == segments       # deterministic
    bursts = ["rare" if i in range(300, 320) or i in range(420, 440) or i in range(540, 560)
              else "normal" for i in range(1000)]
    segments = lc.position_segments(bursts, default)
    assert segments == [("train", 0, 400), ("eval", 400, 550), ("test", 550, 700),
                        ("train", 700, 1000)]               # where eval gets a burst too
    assert all(found == {"normal", "rare"} for found in labels_of(bursts, segments).values())


def test_a_label_that_cannot_be_in_train_and_test_keeps_the_default_split():
    once = ["normal"] * 500 + ["rare"] + ["normal"] * 499   # one step: train or test, not both
    fractions = {"train": 0.7, "eval": 0.15, "test": 0.15}
    assert lc.position_segments(once, fractions) == [("train", 0, 700), ("eval", 700, 850),
                                                     ("test", 850, 1000)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=300),
       st.sampled_from([(0.7, 0.15), (0.8, 0.0), (0.5, 0.25), (0.94, 0.0)]))
def test_the_pieces_tile_the_series_with_the_shares_and_cover_what_a_candidate_can(labels, shares):
    fractions = {"train": shares[0], "eval": shares[1], "test": 1 - sum(shares)}
    segments = lc.position_segments(labels, fractions)
    assert [s[1] for s in segments] == [0] + [s[2] for s in segments[:-1]]
    assert segments[-1][2] == len(labels) and all(end > start for _, start, end in segments)
    size = {split: sum(e - s for name, s, e in segments if name == split) for split in SPLITS}
    n_train = int(round(len(labels) * shares[0]))
    assert size["train"] == n_train and size["eval"] == min(int(round(len(labels) * shares[1])),
                                                            len(labels) - n_train)
    assert [name for name, _, _ in segments if name != "train"] == [
        s for s in ("eval", "test") if size[s]]             # eval just before test
    found, every = labels_of(labels, segments), set(labels)
    block = max(1, len(labels) // lc.CANDIDATE_BLOCKS)
    held = len(labels) - n_train
    if any(set(labels[end - held + size["eval"]:end]) == every
           and set(labels[:end - held] + labels[end:]) == every
           for end in range(len(labels), held - 1, -block)):
        assert found["test"] == every and found["train"] == every
    else:                                                   # the default: held out at the end
        assert [name for name, _, _ in segments].count("train") <= 1


# --- padding, model input, windows -------------------------------------------------------------

PARAMS = sm.SequenceParams(["a", "b"], [1.0, 10.0], [2.0, 5.0], ["x", "y"], [3, 1], [1.0, 1.0],
                           steps=6, stride=2)


def test_pad_cuts_or_pads_with_nan():
    padded, length = sm.pad(np.ones((4, 2)), 6)
    assert length == 4 and np.isnan(padded[4:]).all()
    cut, length = sm.pad(np.arange(20.0).reshape(10, 2), 6)
    assert length == 6 and cut[-1, 0] == 10.0


def test_model_input_fills_scales_and_zeroes_padding_with_an_indicator():
    raw = np.array([[[3.0, np.nan], [np.nan, 20.0], [5.0, np.nan], [99.0, 99.0]]])
    x = sm.model_input(np.pad(raw, ((0, 0), (0, 2), (0, 0)), constant_values=7.0),
                       np.array([3]), PARAMS)
    np.testing.assert_allclose(x[0, :3, 0], [1.0, 1.0, 2.0])       # (3-1)/2, filled, (5-1)/2
    np.testing.assert_allclose(x[0, :3, 1], [2.0, 2.0, 2.0])       # back- then forward-filled
    np.testing.assert_array_equal(x[0, :, 2], [1, 1, 1, 0, 0, 0])  # valid-step indicator
    assert not x[0, 3:].any()                                      # padding is all zeros


def test_windows_cover_every_step_and_stitching_averages_the_overlaps():
    values = np.arange(7.0)[:, None]
    windows, lengths, starts = sm.cut_windows(values, steps=4, stride=2)
    assert starts.tolist() == [0, 2, 4, 6] and lengths.tolist() == [4, 4, 3, 1]
    assert np.isnan(windows[3, 1:]).all() and windows[2, 2, 0] == 6.0
    probs = np.zeros((4, 4, 2))
    probs[:, :, 0] = np.arange(4)[:, None]      # window k says p0 = k on every step
    stitched = sm.stitch(probs, starts, lengths, 7)
    np.testing.assert_allclose(stitched[:, 0], [0, 0, 0.5, 0.5, 1.5, 1.5, 2.5])
    with pytest.raises(ValueError, match="in no window"):
        sm.stitch(probs[:1], starts[:1], lengths[:1], 7)


def test_class_ids_and_balanced_weights():
    assert sm.class_ids(["y", "z", "x"], ["x", "y"]).tolist() == [1, -1, 0]
    assert sm.class_weights([30, 10], "balanced") == [40 / 60, 40 / 20]
    assert sm.class_weights([30, 10], "none") == [1.0, 1.0]


# --- metrics and blessing ---------------------------------------------------------------------

def test_report_matches_hand_computed_scores():
    true = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "a"]
    r = classification_report(true, pred, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(3 / 6)
    assert r["per_class"]["a"] == {"precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3),
                                   "support": 3}
    assert r["per_class"]["c"]["f1"] == 0.0
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert r["confusion"] == [[2, 1, 0], [0, 1, 1], [1, 0, 0]]


def test_labels_outside_the_vocabulary_are_scored_not_dropped():
    r = classification_report(["a", "new"], ["a", "a"], ["a", "b"])
    assert r["labels"] == ["a", "b", "new"] and r["per_class"]["new"]["recall"] == 0.0
    assert r["accuracy"] == 0.5


def test_majority_and_blessing_rules():
    assert majority_label(["a", "b", "c"], [2, 5, 5]) == "b"
    rules = {"min_accuracy": 0.9, "min_macro_f1": None, "beat_baseline": True,
             "max_regression_vs_champion": 0.05}
    model, base = {"accuracy": 0.95, "macro_f1": 0.9}, {"accuracy": 0.5, "macro_f1": 0.2}
    ok, reasons = bless(model, base, {"accuracy": 0.9, "macro_f1": 0.93}, rules)
    assert ok and len(reasons) == 3
    ok, reasons = bless(model, base, {"accuracy": 1.0, "macro_f1": 1.0}, rules)
    assert not ok and "champion 1.0000" in reasons[-1]
    ok, _ = bless({"accuracy": 0.95, "macro_f1": 0.2}, base, None, rules)
    assert not ok


def test_macro_f1_averages_the_train_classes_for_model_and_baseline_alike():
    true = ["a", "a", "a", "a"]                       # the test split lacks class b
    model = classification_report(true, ["a", "a", "b", "a"], ["a", "b"])
    majority = classification_report(true, ["a"] * 4, ["a", "b"])
    assert majority["per_class"]["a"]["f1"] == 1.0 and majority["per_class"]["b"]["f1"] == 0.0
    assert majority["macro_f1"] == 0.5                # not 1.0: averaged over a and b
    assert model["macro_f1"] == pytest.approx((6 / 7 + 0.0) / 2)
    assert classification_report(["a", "new"], ["a", "a"], ["a", "b"])["macro_f1"] == \
        pytest.approx((2 / 3 + 0.0) / 2)              # "new" reported, not averaged
    from seqline.components.tasks.sequence.evaluate import absent_classes_line

    assert absent_classes_line(model, ["a", "b"]).startswith(
        "WARNING: the test split has no 'b' (present in train): F1 is 0 there")
    assert absent_classes_line(classification_report(["a", "b"], ["a", "a"], ["a", "b"]),
                               ["a", "b"]) is None


def test_the_report_agrees_with_scikit_learn_on_random_labels():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d"]
    true, pred = rng.choice(classes, 300), rng.choice(classes[:3], 300)   # "d" never predicted
    r = classification_report(true, pred, classes)
    assert r["accuracy"] == pytest.approx(accuracy_score(true, pred))
    assert r["macro_f1"] == pytest.approx(f1_score(true, pred, labels=classes, average="macro",
                                                   zero_division=0))
    assert r["confusion"] == confusion_matrix(true, pred, labels=classes).tolist()
    per_class = f1_score(true, pred, labels=classes, average=None, zero_division=0)
    assert [r["per_class"][c]["f1"] for c in classes] == pytest.approx(per_class.tolist())
