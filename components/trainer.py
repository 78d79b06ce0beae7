"""Trainer: builds the configured model with the task's head and fits it on the transformed
examples (tf.data: interleave, shuffle, batch, prefetch).

Training resumes from the last finished epoch after an interruption (Keras ``BackupAndRestore``
under the pipeline's state folder, keyed by the inputs and parameters). Output: ``model.keras``.
When the Tuner ran, its best hyperparameters override the ``model`` and ``training`` sections.
With ``model.ensemble`` every member is trained and the candidate with the lowest eval loss,
the members' average included, becomes ``model.keras`` (see :mod:`components.ensemble`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

from pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="Trainer",
    inputs={"transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph"),
            "hyperparameters": ("HyperParameters", "Tuner", "best_hyperparameters")},
    outputs={"model": "Model"},
    description="fit the model with early stopping and per-epoch checkpoints",
    optional_inputs=("hyperparameters",),
)


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], "model": dict(cfg["model"]), "training": dict(cfg["training"]),
            "name": cfg["name"]}


def _fingerprint(inputs, params) -> str:
    blob = json.dumps({"inputs": {k: a.uri for k, a in inputs.items()}, "params": params},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def epoch_logger(ctx, epochs: int, prefix: str = ""):
    """A callback printing one progress line and logging one MLflow step per epoch; with a
    ``prefix`` (an ensemble member's label) on the line and the metric names."""
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k != "learning_rate")
            label = f"{prefix}: " if prefix else ""
            ctx.echo(f"{label}epoch {epoch + 1}/{epochs} {shown} ({time.time() - self.started:.1f}s)")
            key = f"{prefix}_" if prefix else ""
            ctx.log_metrics({key + k: float(v) for k, v in logs.items()}, step=epoch + 1)

    return EpochLogger()


def fit_model(task, examples, model_cfg: dict, train_cfg: dict, name: str, callbacks=(),
              epochs: int | None = None) -> tuple:
    """Build, compile and fit one model on the task's datasets with early stopping on the eval
    loss (train loss without an eval split); ``callbacks`` run before early stopping.

    Returns ``(model with the best epoch's weights, history dict, monitored metric)``.
    """
    import keras

    keras.utils.set_random_seed(train_cfg["seed"])
    train, val = task.datasets(examples, train_cfg)
    model = task.build_model(model_cfg, examples, name)
    model.compile(optimizer=keras.optimizers.Adam(train_cfg["learning_rate"]),
                  **task.compile_args(examples))
    monitor = "val_loss" if val is not None else "loss"
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=train_cfg["early_stopping_patience"],
                                         restore_best_weights=True)
    history = model.fit(train, validation_data=val, epochs=epochs or train_cfg["epochs"], verbose=0,
                        callbacks=[*callbacks, stop]).history
    return model, history, monitor


def tuned_sections(params: dict, hyperparameters, ctx) -> tuple:
    """``(model, training)`` sections with the Tuner's best values applied, if it ran."""
    model_cfg, train_cfg = dict(params["model"]), dict(params["training"])
    if hyperparameters is None:
        return model_cfg, train_cfg
    with open(hyperparameters.path("best_hyperparameters.json"), encoding="utf-8") as fh:
        best = json.load(fh)
    model_cfg.update(best["model"])
    train_cfg.update(best["training"])
    shown = ", ".join(f"{k}={v}" for k, v in {**best["model"], **best["training"]}.items())
    ctx.echo(f"using the Tuner's best hyperparameters: {shown}")
    return model_cfg, train_cfg


def _train_member(task, examples, cfg, train_cfg, name, ctx, backup: str, finished: str | None,
                  prefix: str):
    """Fit one model, resuming from its checkpoint; an ensemble member is also kept in
    ``finished`` until the whole run ends, so an interrupted run reuses it.
    Returns ``(model, history, monitored metric or None for a reused member)``."""
    import keras

    if finished and os.path.isfile(finished):
        ctx.echo(f"{prefix}: reusing the member finished by the interrupted run")
        return keras.saving.load_model(finished), {}, None
    if os.path.isdir(backup):
        ctx.echo(f"{prefix + ': ' if prefix else ''}resuming from the checkpoint in {backup}")
    callbacks = [keras.callbacks.BackupAndRestore(backup),
                 epoch_logger(ctx, train_cfg["epochs"], prefix)]
    model, history, monitor = fit_model(task, examples, cfg, train_cfg, name, callbacks)
    if finished:
        os.makedirs(os.path.dirname(finished), exist_ok=True)
        model.save(finished)
    return model, history, monitor


def _select(task, examples, train_cfg, trained: list, name: str, out_dir: str) -> tuple:
    """Score every member and their average on the eval split (train split without one); save
    them as candidates; return ``(selected model, its label, losses, monitored metric)``."""
    from components import ensemble

    average = ensemble.average_model([m for _, m in trained], name)
    average.compile(**task.compile_args(examples))
    train, val = task.datasets(examples, train_cfg)
    data, monitor = (val, "val_loss") if val is not None else (train, "loss")
    candidates = dict(trained) | {ensemble.ENSEMBLE: average}
    losses = {label: float(m.evaluate(data, verbose=0, return_dict=True)["loss"])
              for label, m in candidates.items()}
    selected = min(losses, key=losses.get) if val is not None else ensemble.ENSEMBLE
    for label, model in candidates.items():
        path = ensemble.candidate_path(out_dir, label)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        model.save(path)
    ensemble.write_index(out_dir, losses, selected, monitor)
    return candidates[selected], selected, losses, monitor


def execute(inputs, outputs, params, ctx) -> dict:
    import keras

    from components import ensemble, plots
    from components.tasks import get_task

    examples, task = inputs["transformed_examples"], get_task(params["task"])
    model_cfg, train_cfg = tuned_sections(params, inputs.get("hyperparameters"), ctx)
    members = ensemble.members(model_cfg)
    fingerprint = _fingerprint(inputs, params)
    finished_dir = os.path.join(ctx.state_dir, "members", fingerprint)
    out = outputs["model"]
    os.makedirs(out.uri, exist_ok=True)
    started, trained, curves = time.time(), [], {}
    for i, (label, cfg) in enumerate(members):
        single = len(members) == 1
        backup = os.path.join(ctx.state_dir, "backup", fingerprint if single else f"{fingerprint}-{i}")
        model, history, monitor = _train_member(
            task, examples, cfg, {**train_cfg, "seed": train_cfg["seed"] + i},
            params["name"] if single else f"{params['name']}_{label}", ctx, backup,
            None if single else os.path.join(finished_dir, f"{i}.keras"), "" if single else label)
        trained.append((label, model))
        curves.update({f"{'' if single else label} {k}".strip(): v for k, v in history.items()
                       if k.endswith("loss")})
    if len(trained) == 1:
        model, selected, losses = trained[0][1], None, None
        best = min(curves.get(monitor) or [float("nan")])
        architecture = model_cfg["type"]
    else:
        model, selected, losses, monitor = _select(task, examples, train_cfg, trained,
                                                   params["name"], out.uri)
        best = losses[selected]
        architecture = selected if selected == ensemble.ENSEMBLE else dict(members)[selected]["type"]
        ctx.echo(f"candidates' {monitor}: " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
                 + f"; selected: {selected}")
    seconds = time.time() - started
    model.save(out.path("model.keras"))
    shutil.rmtree(finished_dir, ignore_errors=True)
    if curves:
        loss = task.compile_args(examples)["loss"]
        ctx.log_file(plots.loss_curves(curves, out.path("loss_curves.png"), f"loss ({loss})"))
    epochs_run = max((len(v) for v in curves.values()), default=0)
    out.properties.update(backend=keras.backend.backend(), architecture=architecture,
                          members=[label for label, _ in members] if selected else None,
                          selected=selected, candidate_losses=losses,
                          hyperparameters={"model": model_cfg, "training": train_cfg},
                          parameters=int(model.count_params()), epochs_run=epochs_run,
                          monitor=monitor, best=float(best), task=params["task"])
    return {f"best_{monitor}": float(best), "epochs_run": epochs_run,
            "train_seconds": round(seconds, 2), "parameters": int(model.count_params())}
