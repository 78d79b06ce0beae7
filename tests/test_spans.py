"""Spans: ``{SPAN}`` / date patterns, which spans a run reads, and new spans arriving over time."""
from __future__ import annotations

import csv
import glob
import os

import mlflow
import pytest

from seqline.components import serving_export
from seqline.components.split_io import split_pattern
from seqline.components.tasks.forecast.codec import decode
from seqline.pipeline import spans
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.executions import complete
from seqline.pipeline.runner import run_pipeline
from tests.forecast_fixtures import MSFT, forecast_config

ROWS = 300


def touch(folder, *names):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")


# --- finding and selecting spans -----------------------------------------------------------------

def test_integer_spans_newest_by_default_or_a_range(tmp_path):
    touch(tmp_path, "p-1.csv", "p-2.csv", "p-10.csv", "p-x.csv", "other-3.csv")
    pattern = str(tmp_path / "p-{SPAN}.csv")
    assert sorted(spans.find(pattern)) == [1, 2, 10]
    assert spans.resolve(pattern, {"latest": 1}) == ([10], [str(tmp_path / "p-10.csv")])
    assert spans.resolve(pattern, {"latest": None, "first": 2})[0] == [2, 10]
    assert spans.resolve(pattern, {"latest": 2, "first": None, "last": 9})[0] == [1, 2]


def test_date_spans_with_several_files_each(tmp_path):
    touch(tmp_path, "2024-01-31/a.csv", "2024-01-31/b.csv", "2024-02-01/a.csv", "2024-02-30/a.csv")
    pattern = str(tmp_path / "{YYYY}-{MM}-{DD}" / "*.csv")
    chosen, files = spans.resolve(pattern, {"latest": None, "last": "2024-02-01"})
    assert chosen == ["2024-01-31", "2024-02-01"]            # 2024-02-30 is not a date
    assert [os.path.relpath(f, tmp_path) for f in files] == ["2024-01-31/a.csv", "2024-01-31/b.csv",
                                                             "2024-02-01/a.csv"]


@pytest.mark.parametrize("path, selection, message", [
    ("p-{SPAN}.csv", {"latest": 1, "first": 5}, "no span matches .* in \\[5, None\\] \\(found: 1\\)"),
    ("p-{SPAN}.csv", {"first": 3, "last": 2}, "first 3 comes after last 2"),
    ("p-{SPAN}.csv", {"first": "2024-01-01"}, "data.spans.first: expected an integer span"),
    ("{YYYY}-{MM}.csv", {}, "needs all of {YYYY}, {MM} and {DD}"),
    ("{SPAN}-{YYYY}-{MM}-{DD}.csv", {}, "either {SPAN} or"),
])
def test_span_selection_errors_name_the_key(tmp_path, path, selection, message):
    touch(tmp_path, "p-1.csv")
    with pytest.raises(ConfigError, match=message):
        spans.resolve(str(tmp_path / path), selection)


# --- new spans arriving --------------------------------------------------------------------------

def write_span(folder, index: int, broken_volume: bool = False) -> str:
    """Rows ``(index-1)*ROWS .. index*ROWS`` of the real MSFT file as span ``index``."""
    with open(MSFT, newline="") as fh:
        rows = list(csv.reader(fh))
    body = [list(r) for r in rows[1 + (index - 1) * ROWS: 1 + index * ROWS]]
    if broken_volume:        # a feed that starts writing -999 for unknown volumes
        volume = rows[0].index("Volume")
        for row in body[::5]:
            row[volume] = "-999"
    path = folder / "spans" / f"msft-{index}.csv"
    path.parent.mkdir(exist_ok=True)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([rows[0]] + body)
    return str(path)


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory):
    """A pipeline on spans: the first span, then a second one arrives."""
    tmp = tmp_path_factory.mktemp("spans")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        write_span(tmp, 1)
        cfg = forecast_config(tmp, "spans/msft-{SPAN}.csv", training={"epochs": 1, "batch_size": 32},
                              evaluation={"blessing": {"max_ratio_to_best_baseline": None,
                                                      "max_regression_vs_champion": 0.05}})
        first = run_pipeline(cfg, quiet=True)
        write_span(tmp, 2)
        second = run_pipeline(cfg, quiet=True)
        yield tmp, cfg, first, second


def test_a_new_span_reruns_what_depends_on_the_data_and_retrains(scheduled):
    _, _, first, second = scheduled
    assert first.artifacts[("ExampleGen", "examples")].properties["spans"] == [1]
    assert second.artifacts[("ExampleGen", "examples")].properties["spans"] == [2]
    assert second.reused == ["SchemaGen"]          # the saved schema file did not change
    assert second.metrics["Trainer"]["epochs_run"] == 1
    validator = second.artifacts[("ExampleValidator", "anomalies")]
    assert open(validator.path("anomalies.txt")).readline().startswith(
        "0 anomalies in spans [2], compared with spans [1]")


def test_the_new_model_is_blessed_and_pushed_or_refused_and_not(scheduled):
    tmp, cfg, first, second = scheduled
    scores = second.artifacts[("Evaluator", "evaluation")].properties["metrics"]
    assert "champion" in scores                    # the span-1 model, re-scored on span 2
    blessed = second.metrics["Evaluator"]["blessed"]
    limit = scores["champion"]["mase"] * 1.05
    assert blessed == (scores["model"]["mase"] <= limit)
    versions = serving_export.versions(os.path.join(cfg["pusher"]["serving_dir"], "msft_test"))
    assert versions == ([1, 2] if blessed else [1])
    assert second.metrics["Pusher"]["pushed"] == blessed


def test_a_span_with_a_broken_column_stops_before_training_and_keeps_the_champion(scheduled):
    tmp, cfg, _, _ = scheduled
    model_dir = os.path.join(cfg["pusher"]["serving_dir"], "msft_test")
    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    champion = client.get_model_version_by_alias("msft_test", "champion").version
    before = serving_export.versions(model_dir), len(complete(cfg["pipeline_root"], "Trainer"))
    write_span(tmp, 3, broken_volume=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        with pytest.raises(DataError) as info:
            run_pipeline(cfg, quiet=True)
    message = str(info.value)
    assert message.startswith("ExampleValidator: 1 anomaly — Volume: smallest value -999 is below min 0")
    assert "(about 60 of 300 values)" in message
    assert (serving_export.versions(model_dir), len(complete(cfg["pipeline_root"], "Trainer"))) == before
    assert client.get_model_version_by_alias("msft_test", "champion").version == champion
    failed = client.search_runs([client.get_experiment_by_name("msft_test").experiment_id],
                                filter_string="tags.`seqline.component` = 'ExampleValidator'",
                                order_by=["start_time DESC"])[0]
    assert failed.info.status == "FAILED"
    report = client.download_artifacts(failed.info.run_id, "anomalies.txt", str(tmp))
    assert "Volume" in open(report).read() and "-999" in open(report).read()
    os.remove(os.path.join(tmp, "spans", "msft-3.csv"))


def test_a_range_of_spans_is_split_by_time_across_spans(scheduled):
    tmp, cfg, _, _ = scheduled
    write_span(tmp, 3)
    ranged = {**cfg, "pipeline_root": str(tmp / "ranged"),
              "data": {**cfg["data"], "spans": {"first": 1, "last": 3, "latest": None}}}
    result = run_pipeline(ranged, until="ExampleGen", quiet=True)
    examples = result.artifacts[("ExampleGen", "examples")]
    assert examples.properties["spans"] == [1, 2, 3]
    records = {}
    for split in ("train", "eval", "test"):
        import tensorflow as tf
        files = sorted(glob.glob(split_pattern(examples.uri, split)))
        records[split] = [decode(x.numpy(), ["Close", "Volume"])
                          for x in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert [len(records[s]) for s in ("train", "eval", "test")] == [720, 90, 90]
    assert max(r.timestamp for r in records["train"]) < min(r.timestamp for r in records["eval"])
    assert max(r.timestamp for r in records["eval"]) < min(r.timestamp for r in records["test"])
    assert {os.path.basename(r.file) for r in records["test"]} == {"msft-3.csv"}
    assert {os.path.basename(r.file) for r in records["train"]} == {"msft-1.csv", "msft-2.csv", "msft-3.csv"}
