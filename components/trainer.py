"""Trainer: builds the configured model with the task's head and fits it on the transformed
examples (tf.data: interleave, shuffle, batch, prefetch).

Training resumes from the last finished epoch after an interruption, even a SIGKILL, and ends in
the same model as an uninterrupted fit (:mod:`components.training_state`, checkpoints under
``<pipeline_root>/.state/Trainer/backup/<fingerprint>``, the execution's cache fingerprint).
With ``TF_CONFIG`` naming several workers it trains with ``MultiWorkerMirroredStrategy``
(:mod:`components.multi_worker`). Output: ``model.keras``.
"""
from __future__ import annotations

import contextlib
import os
import time

from pipeline import distribution, fingerprint
from pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="Trainer",
    inputs={"transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph")},
    outputs={"model": "Model"},
    description="fit the model with early stopping and per-epoch checkpoints",
)


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], "model": dict(cfg["model"]), "training": dict(cfg["training"]),
            "name": cfg["name"], "workers": distribution.cluster()["size"]}


def _backup_key(inputs, params, ctx) -> str:
    """The checkpoint folder's name: the execution's cache fingerprint (computed here when the
    executor runs outside the runner)."""
    if ctx.fingerprint:
        return ctx.fingerprint[:16]
    code = fingerprint.code_version(__name__, params["task"])
    found = {k: a.fingerprint or fingerprint.of_folder(a.uri, a.properties) for k, a in inputs.items()}
    return fingerprint.of_execution(code, params, found)[:16]


def _epoch_logger(ctx, epochs: int):
    import keras

    class EpochLogger(keras.callbacks.Callback):
        """One progress line and one MLflow step per epoch."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k != "learning_rate")
            ctx.echo(f"epoch {epoch + 1}/{epochs} {shown} ({time.time() - self.started:.1f}s)")
            ctx.log_metrics({k: float(v) for k, v in logs.items()}, step=epoch + 1)

    return EpochLogger()


def execute(inputs, outputs, params, ctx) -> dict:
    from components import multi_worker

    strategy = multi_worker.strategy(params["workers"])
    import keras

    from components import plots
    from components import training_state as ts
    from components.tasks import get_task

    train_cfg, examples = params["training"], inputs["transformed_examples"]
    task = get_task(params["task"])
    keras.utils.set_random_seed(train_cfg["seed"])
    train, val = task.datasets(examples, train_cfg)
    has_eval = val is not None
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = task.build_model(params["model"], examples, params["name"])
        model.compile(optimizer=keras.optimizers.Adam(train_cfg["learning_rate"]),
                      **task.compile_args(examples))
    monitor = "val_loss" if has_eval else "loss"
    backup = os.path.join(ctx.state_dir, "backup", _backup_key(inputs, params, ctx))
    first_epoch = ts.restored_epoch(backup)
    if first_epoch:
        ctx.echo(f"resuming after epoch {first_epoch} from the checkpoint in {backup}")
    early = keras.callbacks.EarlyStopping(monitor=monitor, restore_best_weights=True,
                                          patience=train_cfg["early_stopping_patience"])
    resumable = ts.ResumableTraining(backup, train_cfg["seed"], early)
    steps = ts.count_batches(train)
    stream = ts.epoch_stream(train, steps, first_epoch)
    if strategy:
        multi_worker.prepare(model, strategy, train)
        stream = multi_worker.shard_by_data(stream)
        val = None if val is None else multi_worker.shard_by_data(val)
    started = time.time()
    model.fit(stream, steps_per_epoch=steps, validation_data=val, epochs=train_cfg["epochs"],
              verbose=0,
              callbacks=[early, resumable, _epoch_logger(ctx, train_cfg["epochs"])])
    history = resumable.history
    seconds = time.time() - started
    out = outputs["model"]
    os.makedirs(out.uri, exist_ok=True)
    model.save(out.path("model.keras"))
    if history.get("loss"):
        ctx.log_file(plots.loss_curves(history, out.path("loss_curves.png")))
    best = min(history.get(monitor) or [float("nan")])
    out.properties.update(backend=keras.backend.backend(), architecture=params["model"]["type"],
                          parameters=int(model.count_params()), epochs_run=len(history.get("loss", [])),
                          resumed_after_epoch=first_epoch, monitor=monitor, best=float(best),
                          task=params["task"], workers=params["workers"])
    return {f"best_{monitor}": float(best), "epochs_run": len(history.get("loss", [])),
            "train_seconds": round(seconds, 2), "parameters": int(model.count_params())}
