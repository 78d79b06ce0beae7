"""MLflow tracking: one parent run per pipeline run, one nested run per component.

The store defaults to ``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/<experiment id>``
(relative to the working directory); ``MLFLOW_TRACKING_URI`` overrides it, e.g. a team server.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket

from seqline.pipeline.lock import pid_alive

DEFAULT_STORE_DIR = "mlruns"
KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
# MLflow 3.17's UI picks its view from a per-browser switch (GenAI by default) over the tag;
# this URL parameter opens the model-training view whatever the browser last chose
RUNS_VIEW = "workflowType=machine_learning"


def tracking_uri() -> str:
    """The tracking URI in force: ``MLFLOW_TRACKING_URI`` or the local SQLite store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{os.path.abspath(DEFAULT_STORE_DIR)}/mlflow.db"


def default_artifact_root() -> str | None:
    """Where runs store files with the local store (``mlruns/<experiment id>/``, MLflow's
    default); ``None`` when a server or another store decides."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return os.path.abspath(DEFAULT_STORE_DIR)


def setup(experiment: str):
    """Point MLflow at the store and select (or create) ``experiment``; return the module."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.makedirs(DEFAULT_STORE_DIR, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri())
    found = mlflow.set_experiment(experiment)
    if found.tags.get(KIND_TAG) != MODEL_TRAINING:   # the UI opens on the runs, not GenAI traces
        mlflow.set_experiment_tag(KIND_TAG, MODEL_TRAINING)
    return mlflow


def start_page(config: str | None = None) -> str | None:
    """The UI path of the runs of the experiment to open, in the model-training view: that of
    ``config`` (a pipeline YAML) if it loads, else that of the newest run; ``None`` for an
    empty store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri())
    experiment = None
    if config and os.path.isfile(config):
        from seqline.pipeline.config import load_config
        from seqline.pipeline.errors import SeqlineError

        with contextlib.suppress(SeqlineError):
            experiment = client.get_experiment_by_name(load_config(config)["mlflow"]["experiment"])
    if experiment is None:
        ids = [e.experiment_id for e in client.search_experiments()]
        newest = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1)
        if not newest:
            return None
        experiment = client.get_experiment(newest[0].info.experiment_id)
    return f"#/experiments/{experiment.experiment_id}/runs?{RUNS_VIEW}"


def owner_tags(root: str) -> dict:
    """Tags of a pipeline's parent run naming the process that runs it."""
    return {"seqline.host": socket.gethostname(), "seqline.pid": str(os.getpid()),
            "seqline.root": root}


def close_abandoned_runs(mlflow, experiment: str, root: str) -> list:
    """Mark ``KILLED`` the parent runs of ``root`` still ``RUNNING`` whose process on this host is
    gone (a run killed with SIGKILL never ends its MLflow runs), and their nested runs. Call it
    holding the root's lock. Returns the parent run ids."""
    client = mlflow.tracking.MlflowClient()
    found = mlflow.get_experiment_by_name(experiment)
    running = "attributes.status = 'RUNNING'"
    host = socket.gethostname().replace("'", "")
    closed = []
    for run in client.search_runs([found.experiment_id],
                                  f"{running} and tags.`seqline.host` = '{host}'"):
        tags = run.data.tags
        pid = tags.get("seqline.pid", "")
        if tags.get("seqline.root") != root or not pid.isdigit() or pid_alive(int(pid)):
            continue
        for child in client.search_runs(
                [found.experiment_id], f"{running} and tags.mlflow.parentRunId = '{run.info.run_id}'"):
            client.set_terminated(child.info.run_id, "KILLED")
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed


class StageRun:
    """Logging hooks of one nested component run, handed to executors via the Context."""

    def __init__(self, mlflow, run):
        self.mlflow = mlflow
        self.run = run

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        if clean:
            self.mlflow.log_metrics(clean, step=step)

    def log_params(self, params: dict) -> None:
        flat = _flatten(params)
        for i in range(0, len(flat), 100):
            self.mlflow.log_params(dict(list(flat.items())[i:i + 100]))

    def log_file(self, path: str) -> None:
        self.mlflow.log_artifact(path)

    def log_text(self, text: str, name: str) -> None:
        self.mlflow.log_text(text, name)


def _flatten(params: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)[:6000]
    return out


@contextlib.contextmanager
def stage_run(mlflow, name: str, tags: dict):
    """A nested run for one component execution."""
    with mlflow.start_run(run_name=name, nested=True, tags=tags) as run:
        yield StageRun(mlflow, run)
