"""Fixtures shared by several test modules."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.forecast_fixtures import pipeline_yaml
from tests.serving_helpers import run_example_pipeline


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The stock example run once through the CLI (1 epoch): exported SavedModel + MLflow store."""
    return run_example_pipeline(str(tmp_path_factory.mktemp("served_example")))


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """One uninterrupted pipeline run on 300 real MSFT rows (6 epochs), in this process, with its
    own tracking store: the reference for recovery tests and the run the MLflow tests browse."""
    from seqline.pipeline.runner import run_pipeline

    tmp = tmp_path_factory.mktemp("finished_run")
    path, cfg = pipeline_yaml(tmp, "reference")
    tracking_uri = f"sqlite:///{tmp}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        mp.chdir(tmp)                      # MLflow puts the run artifacts in ./mlruns
        result = run_pipeline(cfg, quiet=True)
    return SimpleNamespace(tmp=tmp, config=path, cfg=cfg, result=result, tracking_uri=tracking_uri)
