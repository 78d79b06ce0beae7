"""A different CSV (other columns, 360 Hz timestamps, three series) works from YAML alone."""
import os

import numpy as np
import pytest
import tensorflow as tf

from seqline.pipeline.config import load_config
from seqline.pipeline.runner import run_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "examples", "sensor_forecast", "pipeline.yaml")


def test_sensor_example_runs_with_sub_second_timestamps_and_several_series(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    cfg = load_config(CONFIG)
    cfg["pipeline_root"] = str(tmp_path / "pipeline")
    cfg["pusher"]["serving_dir"] = str(tmp_path / "serving")
    cfg["training"]["epochs"] = 3
    cfg["evaluation"]["blessing"]["max_ratio_to_best_baseline"] = None
    cfg["compression"]["enabled"] = False   # compression is tested on the stock example
    result = run_pipeline(cfg, quiet=True)
    examples = result.artifacts[("ExampleGen", "examples")].properties
    assert examples["series"] == 3
    assert sum(examples["split_counts"].values()) == 7500
    assert result.artifacts[("ExampleGen", "quarantine")].properties["count"] == 0
    pushed = result.artifacts[("Pusher", "pushed_model")].properties
    assert pushed["variants"] == {}   # the float model only
    serve = tf.saved_model.load(pushed["path"]).signatures["serving_default"]
    window = np.random.default_rng(0).normal(0, 0.3, (4, 36, 1)).astype("float32")
    forecast = serve(window=tf.constant(window))["forecast"].numpy()
    assert forecast.shape == (4, 3)
    assert np.all(np.abs(forecast) < 5.0)   # millivolts, not scaled units


def test_a_missing_series_column_is_a_config_error(tmp_path):
    bad = tmp_path / "pipeline.yaml"
    bad.write_text(open(CONFIG).read().replace("series_id_column: recording", "series_id_column: lead")
                   .replace("path: data/", f"path: {os.path.dirname(CONFIG)}/data/"))
    from seqline.pipeline.errors import ConfigError
    with pytest.raises(ConfigError, match="data.series_id_column: column 'lead' not in"):
        load_config(str(bad))
