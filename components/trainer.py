"""Trainer: builds the configured model with the task's head and fits it on the transformed
examples (tf.data: interleave, shuffle, batch, prefetch).

Training resumes from the last finished epoch after an interruption (Keras ``BackupAndRestore``
under the pipeline's state folder, keyed by the inputs and parameters). Output: ``model.keras``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

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
            "name": cfg["name"]}


def _fingerprint(inputs, params) -> str:
    blob = json.dumps({"inputs": {k: a.uri for k, a in inputs.items()}, "params": params},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
    import keras

    from components import plots
    from components.tasks import get_task

    train_cfg, examples = params["training"], inputs["transformed_examples"]
    task = get_task(params["task"])
    keras.utils.set_random_seed(train_cfg["seed"])
    train, val = task.datasets(examples, train_cfg)
    has_eval = val is not None
    model = task.build_model(params["model"], examples, params["name"])
    compile_args = task.compile_args(examples)
    model.compile(optimizer=keras.optimizers.Adam(train_cfg["learning_rate"]), **compile_args)
    monitor = "val_loss" if has_eval else "loss"
    backup = os.path.join(ctx.state_dir, "backup", _fingerprint(inputs, params))
    if os.path.isdir(backup):
        ctx.echo(f"resuming from the checkpoint in {backup}")
    callbacks = [
        keras.callbacks.BackupAndRestore(backup),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=train_cfg["early_stopping_patience"],
                                      restore_best_weights=True),
        _epoch_logger(ctx, train_cfg["epochs"]),
    ]
    started = time.time()
    history = model.fit(train, validation_data=val, epochs=train_cfg["epochs"], verbose=0,
                        callbacks=callbacks).history
    seconds = time.time() - started
    out = outputs["model"]
    os.makedirs(out.uri, exist_ok=True)
    model.save(out.path("model.keras"))
    if history.get("loss"):
        ylabel = f"loss ({compile_args['loss']})"
        ctx.log_file(plots.loss_curves(history, out.path("loss_curves.png"), ylabel))
    best = min(history.get(monitor) or [float("nan")])
    out.properties.update(backend=keras.backend.backend(), architecture=params["model"]["type"],
                          parameters=int(model.count_params()), epochs_run=len(history.get("loss", [])),
                          monitor=monitor, best=float(best), task=params["task"])
    return {f"best_{monitor}": float(best), "epochs_run": len(history.get("loss", [])),
            "train_seconds": round(seconds, 2), "parameters": int(model.count_params())}
