"""Fixtures shared by test modules."""
import pytest

from tests.serving_helpers import run_example_pipeline


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The stock example run once through the CLI (1 epoch): exported SavedModel + MLflow store."""
    return run_example_pipeline(str(tmp_path_factory.mktemp("served_example")))
