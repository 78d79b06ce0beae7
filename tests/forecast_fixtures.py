"""Shared builders for forecasting tests: run ExampleGen and Transform executors on real data."""
from __future__ import annotations

import os
import shutil

from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.component import Context
from seqline.pipeline.config import validate_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSFT = os.path.join(ROOT, "examples", "stock_forecast", "data", "msft_daily.csv")


def msft_slice(path: str, rows: int) -> str:
    """The header and the first ``rows`` data rows of the real MSFT CSV."""
    with open(MSFT, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return path


def forecast_config(tmp_path, data_path: str, **overrides) -> dict:
    """A validated forecasting config writing everything under ``tmp_path``."""
    raw = {
        "name": "msft_test", "pipeline_root": "pipeline",
        "data": {"path": data_path, "time_column": "Date", "feature_columns": ["Close", "Volume"],
                 "target_column": "Close"},
        "transform": {"log_returns": ["Close"], "lookback": 10, "horizon": 2},
        "model": {"type": "lstm", "units": 8},
        "training": {"epochs": 2, "batch_size": 32},
        # Machinery tests need a blessed model: a 2-epoch model need not beat the baselines;
        # the AutoETS reference has its own tests (and costs a numba compile per process).
        "evaluation": {"reference": "none", "blessing": {"max_ratio_to_best_baseline": None}},
        "pusher": {"serving_dir": "serving"},
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return validate_config(raw, base_dir=str(tmp_path))


def run_executor(module, cfg: dict, inputs: dict, folder: str, ctx: Context | None = None) -> dict:
    """Run one component's executor into ``folder``; return its output artifacts."""
    shutil.rmtree(folder, ignore_errors=True)
    outputs = {name: Artifact(kind, os.path.join(folder, name), producer=module.SPEC.name)
               for name, kind in module.SPEC.outputs.items()}
    module.execute(inputs, outputs, module.parameters(cfg), ctx or Context())
    for artifact in outputs.values():
        artifact.save()
    return outputs


def run_example_cli(example: str, tmp, change) -> str:
    """Run ``examples/<example>/pipeline.yaml``, edited by ``change(cfg)``, with the CLI in ``tmp``
    (a fresh folder, the default MLflow store); returns its stdout."""
    import subprocess
    import sys

    import yaml

    folder = os.path.join(ROOT, "examples", example)
    with open(os.path.join(folder, "pipeline.yaml"), encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    cfg["data"]["path"] = os.path.join(folder, cfg["data"]["path"])
    change(cfg)
    config = tmp / "pipeline.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "seqline", "run", str(config)], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def pipeline_yaml(tmp_path, name: str, epochs: int = 6) -> tuple:
    """A YAML config for 300 real MSFT rows writing under ``tmp_path/name``, blessing the first
    model; returns ``(path, validated config)``."""
    import yaml

    data = msft_slice(str(tmp_path / "msft.csv"), 300)
    cfg = forecast_config(tmp_path, data, pipeline_root=f"{name}/pipeline",
                          training={"epochs": epochs, "early_stopping_patience": epochs},
                          pusher={"serving_dir": f"{name}/serving"})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path), cfg
