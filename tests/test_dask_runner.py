"""Beam's DaskRunner on a local dask.distributed cluster of two worker processes runs ExampleGen,
StatisticsGen and Transform of a small forecast example and writes the same bytes as the
DirectRunner: every output file, checked one by one (the runner reports success even where a
sink never ran)."""
from __future__ import annotations

import os

import distributed

from seqline.components import example_gen, statistics_gen, transform
from seqline.components.split_io import split_files
from seqline.components.tfrecord_data import batched_examples
from seqline.pipeline.component import Context
from tests.forecast_fixtures import ROOT, forecast_config, run_executor

ECG = os.path.join(ROOT, "examples", "sensor_forecast", "data", "ecg_360hz.csv")
DASK_RUNNER = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"
# TensorFlow writes the transform graph after the Beam pipeline; its SavedModel protos differ
# between two DirectRunner runs too (its variables do not).
NOT_COMPARED = {"artifact.json", "saved_model.pb", "fingerprint.pb"}


def ecg_slice(path: str, rows: int = 200) -> str:
    """The first ``rows`` samples of each of the real ECG recordings, and one bad row."""
    with open(ECG, encoding="utf-8") as fh:
        header, *lines = fh.read().splitlines()
    by_series: dict = {}
    for line in lines:
        by_series.setdefault(line.split(",")[0], []).append(line)
    kept = [line for series in by_series.values() for line in series[:rows]]
    kept.insert(50, "segment_1,not a time,0.1")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join([header, *kept]) + "\n")
    return path


def data_stages(tmp_path, data: str, folder: str, beam_args: list) -> dict:
    """Run the three Beam stages into ``tmp_path/folder``; return relative path -> bytes."""
    cfg = forecast_config(
        tmp_path, data,
        data={"path": data, "time_column": "time", "time_format": "%Y-%m-%d %H:%M:%S.%f",
              "series_id_column": "recording", "feature_columns": ["millivolts"],
              "target_column": "millivolts", "split": {"train": 0.7, "eval": 0.15, "test": 0.15}},
        transform={"log_returns": False, "lookback": 12, "horizon": 3},
        evaluation={"reference": "none", "seasonal_period": 1})
    ctx, out = Context(beam_args=beam_args), tmp_path / folder
    examples = run_executor(example_gen, cfg, {}, str(out / "ExampleGen"), ctx)["examples"]
    run_executor(statistics_gen, cfg, {"examples": examples}, str(out / "StatisticsGen"), ctx)
    run_executor(transform, cfg, {"examples": examples}, str(out / "Transform"), ctx)
    files = {}
    for base, _, names in os.walk(out):
        for name in set(names) - NOT_COMPARED:
            path = os.path.join(base, name)
            with open(path, "rb") as fh:
                files[os.path.relpath(path, out)] = fh.read()
    return files


def records(folder) -> int:
    return sum(len(batch) for batch in batched_examples(
        os.path.join(folder, "Split-*.tfrecord.gz"), 1024, lambda s: s).as_numpy_iterator())


def close_clients() -> None:
    """The DaskRunner opens a client per pipeline and leaves it open."""
    while True:
        try:
            distributed.default_client().close()
        except ValueError:   # no client left
            return


def test_data_stages_on_dask_write_the_same_bytes_as_the_direct_runner(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)   # the Dask workers import this checkout
    data = ecg_slice(str(tmp_path / "ecg.csv"))
    direct = data_stages(tmp_path, data, "direct", [])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        try:
            dask = data_stages(tmp_path, data, "dask", [
                DASK_RUNNER, f"--dask_client_address={cluster.scheduler_address}"])
        finally:
            close_clients()
        assert cluster.scheduler.transition_counter > 0   # the stages ran as the cluster's tasks
    assert sorted(dask) == sorted(direct)
    for name in direct:
        assert dask[name] == direct[name], name
    # what was compared is real output: every split's rows, the bad row, windows, statistics
    for stage, output in (("ExampleGen", "examples"), ("Transform", "transformed_examples")):
        folder = tmp_path / "dask" / stage / output
        assert len(split_files(folder)) == 3 and records(folder) > 0
    assert b"not a time" in dask[os.path.join("ExampleGen", "quarantine", "quarantine.csv")]
    for name in ("params.json", "window_counts.json", "data_checks.json"):
        assert os.path.join("Transform", "transform_graph", name) in dask
    assert os.path.join("StatisticsGen", "statistics", "statistics.json") in dask
