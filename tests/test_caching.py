"""The cache: unchanged stages are reused, anything that changes reruns what depends on it."""
from __future__ import annotations

import gc
import json
import os
import weakref

import mlflow
import pytest

from seqline.pipeline import fingerprint
from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.executions import latest_execution, read_record
from seqline.pipeline.runner import run_pipeline
from tests.forecast_fixtures import forecast_config, msft_slice

DATA_STAGES = ["ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        cfg = forecast_config(tmp, msft_slice(str(tmp / "msft.csv"), 300))
        first = run_pipeline(cfg, until="ExampleValidator", quiet=True)
        yield tmp, cfg, first


def run(cfg, **kw):
    return run_pipeline(cfg, until="ExampleValidator", quiet=True, **kw)


def ran(result) -> list:
    return [s for s in DATA_STAGES if s not in result.reused]


def test_unchanged_rerun_reuses_every_stage_with_fingerprints_recorded(setup):
    tmp, cfg, first = setup
    assert first.reused == []
    again = run(cfg)
    assert again.reused == DATA_STAGES
    for key, artifact in first.artifacts.items():
        assert again.artifacts[key].uri == artifact.uri
        stored = Artifact.load(artifact.uri)
        assert stored.fingerprint == fingerprint.of_folder(artifact.uri, stored.properties)
    record = read_record(latest_execution(cfg["pipeline_root"], "StatisticsGen"))
    assert record["input_fingerprints"]["examples"] == first.artifacts[("ExampleGen", "examples")].fingerprint
    assert record["fingerprint"] == fingerprint.of_execution(
        record["code_version"], record["parameters"], record["cache_inputs"])
    gen = read_record(latest_execution(cfg["pipeline_root"], "ExampleGen"))
    assert gen["cache_inputs"] == {cfg["data"]["path"]: fingerprint.of_file(cfg["data"]["path"])}
    client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("msft_test").experiment_id],
                              filter_string="tags.`seqline.component` = 'StatisticsGen'")
    assert sorted(r.data.tags["seqline.cache"] for r in runs) == ["miss", "reused"]
    assert {r.data.tags["seqline.fingerprint"] for r in runs} == {record["fingerprint"]}


def test_no_cache_reruns_every_stage_into_identical_outputs(setup):
    _, cfg, first = setup
    forced = run(cfg, use_cache=False)
    assert forced.reused == []
    for key, artifact in first.artifacts.items():
        assert forced.artifacts[key].uri != artifact.uri
        assert forced.artifacts[key].fingerprint == artifact.fingerprint   # byte-identical


def test_an_edited_schema_reruns_schema_and_validation_only(setup):
    _, cfg, _ = setup
    path = os.path.join(cfg["pipeline_root"], "schema.yaml")
    text = open(path).read()
    with open(path, "w") as fh:
        fh.write(text.replace("max_drift: null", "max_drift: 0.5", 1))
    assert ran(run(cfg)) == ["SchemaGen", "ExampleValidator"]
    assert ran(run(cfg)) == []


def test_a_changed_parameter_reruns_its_stage_and_a_changed_file_reruns_from_the_start(setup):
    tmp, cfg, _ = setup
    changed = {**cfg, "validation": {**cfg["validation"], "max_drift": 0.9}}
    assert ran(run(changed)) == ["ExampleValidator"]
    with open(cfg["data"]["path"]) as fh:
        lines = fh.readlines()
    with open(cfg["data"]["path"], "w") as fh:
        fh.writelines(lines[:-1])                      # one row less
    rerun = run(changed)
    assert "ExampleGen" in ran(rerun) and "SchemaGen" in rerun.reused   # the schema file is unchanged


def test_code_version_covers_the_task_methods_and_modules_a_component_runs():
    files = {c: {os.path.relpath(p, fingerprint.ROOT) for p in fingerprint.code_files(f"seqline.components.{m}", "forecast")}
             for c, m in (("gen", "example_gen"), ("train", "trainer"), ("eval", "evaluator"),
                          ("stats", "statistics_gen"))}
    assert {"components/tasks/forecast/example_gen.py", "components/tasks/csv_records.py",
            "components/split_io.py"} <= files["gen"]
    assert "components/tasks/forecast/evaluate.py" not in files["gen"]
    assert {"components/training_state.py", "models/recurrent.py",
            "components/tasks/forecast/data.py"} <= files["train"]
    assert "components/tasks/forecast/transform.py" not in files["train"]
    assert "components/tasks/forecast/evaluate.py" in files["eval"]
    assert "components/data_stats.py" in files["stats"] and not any("tasks/forecast" in f for f in files["stats"])
    versions = {fingerprint.code_version(f"seqline.components.{m}", "forecast")
                for m in ("example_gen", "transform", "trainer", "evaluator", "pusher")}
    assert len(versions) == 5


def test_execution_key_changes_with_code_parameters_and_inputs():
    base = fingerprint.of_execution("code", {"a": 1}, {"x": "f1"})
    assert base == fingerprint.of_execution("code", {"a": 1}, {"x": "f1"})
    assert len({base, fingerprint.of_execution("code2", {"a": 1}, {"x": "f1"}),
                fingerprint.of_execution("code", {"a": 2}, {"x": "f1"}),
                fingerprint.of_execution("code", {"a": 1}, {"x": "f2"})}) == 4
    assert json.loads(json.dumps({"a": 1})) == {"a": 1}


def test_the_runner_freezes_library_objects_once_and_later_garbage_is_still_collected(setup):
    _, cfg, _ = setup
    frozen = gc.get_freeze_count()
    assert frozen > 100_000   # Beam and MLflow (loaded by now): full collections skip them
    run(cfg)
    assert gc.get_freeze_count() <= frozen   # no new library, no new freeze: this run's garbage

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
