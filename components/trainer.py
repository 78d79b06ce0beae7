"""Trainer: builds the configured model with the task's head and fits it on the transformed
examples (tf.data: interleave, shuffle, batch, prefetch).

Training resumes from the last finished epoch after an interruption, even a SIGKILL, and ends in
the same model as an uninterrupted fit (:mod:`seqline.components.training_state`, checkpoints under
``<pipeline_root>/.state/Trainer/backup/<fingerprint>``, the execution's cache fingerprint).
With ``TF_CONFIG`` naming several workers it trains with ``MultiWorkerMirroredStrategy``
(:mod:`seqline.components.multi_worker`). Output: ``model.keras``.
When the Tuner ran, its best hyperparameters override the ``model`` and ``training`` sections.
With ``model.ensemble`` every member is trained and the candidate with the lowest eval loss,
the members' average included, becomes ``model.keras`` (see :mod:`seqline.components.ensemble`).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time

from seqline.pipeline import distribution, fingerprint
from seqline.pipeline.component import ComponentSpec

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
            "name": cfg["name"], "workers": distribution.cluster()["size"]}


def _backup_key(inputs, params, ctx) -> str:
    """The checkpoint folder's name: the execution's cache fingerprint (computed here when the
    executor runs outside the runner)."""
    if ctx.fingerprint:
        return ctx.fingerprint[:16]
    code = fingerprint.code_version(__name__, params["task"])
    found = {k: a.fingerprint or fingerprint.of_folder(a.uri, a.properties) for k, a in inputs.items()}
    return fingerprint.of_execution(code, params, found)[:16]


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


def kept_epoch(losses: list) -> int:
    """The epoch (from 1) whose weights early stopping restores: the first with the lowest
    monitored loss (a NaN never improves; with no number at all, epoch 1, as Keras does)."""
    finite = [(value, i) for i, value in enumerate(losses) if not math.isnan(value)]
    return min(finite)[1] + 1 if finite else 1


def kept_epoch_note(losses: list, monitor: str) -> str | None:
    """A line when early stopping kept an earlier epoch than the last one run; a warning when it
    kept the first of several (the least trained model, often one that learned little)."""
    kept = kept_epoch(losses)
    if not losses or kept == len(losses):
        return None
    later = len(losses) - kept
    line = (f"early stopping kept the weights of epoch {kept} of {len(losses)} run: {monitor} "
            f"did not improve on its {losses[kept - 1]:.4f} in the {later} later epoch"
            f"{'s' if later > 1 else ''}")
    if kept > 1:
        return line
    return (f"warning: {line}; the model may have learned little. Try a lower "
            "training.learning_rate, more data, or check the features")


def learning_rate(train_cfg: dict, total_steps: int | None):
    """``training.learning_rate``, constant or (``lr_schedule: cosine``) a cosine decay to a tenth
    of it over ``total_steps`` optimizer steps; a function of the optimizer's step count, so a
    resumed fit continues the schedule exactly."""
    import keras

    if train_cfg.get("lr_schedule", "constant") == "constant":
        return train_cfg["learning_rate"]
    return keras.optimizers.schedules.CosineDecay(train_cfg["learning_rate"],
                                                  max(total_steps, 1), alpha=0.1)


def fit_model(task, examples, model_cfg: dict, train_cfg: dict, name: str, callbacks=(),
              epochs: int | None = None, backup: str | None = None, strategy=None) -> tuple:
    """Build, compile and fit one model on the task's datasets with early stopping on the eval
    loss (train loss without an eval split); ``callbacks`` run after early stopping. With a
    ``backup`` folder the fit checkpoints every epoch and resumes exactly from the last one
    (:class:`seqline.components.training_state.ResumableTraining`); with a multi-worker ``strategy``
    each worker trains on its share of the batches.

    Returns ``(model with the best epoch's weights, history dict, monitored metric)``.
    """
    import keras

    from seqline.components import multi_worker
    from seqline.components import training_state as ts

    keras.utils.set_random_seed(train_cfg["seed"])
    train, val = task.datasets(examples, train_cfg)
    epochs = epochs or train_cfg["epochs"]
    scheduled = train_cfg.get("lr_schedule", "constant") != "constant"
    steps = ts.count_batches(train) if backup or scheduled else None   # a pass over the data
    rate = learning_rate(train_cfg, epochs * steps if scheduled else None)
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = task.build_model(model_cfg, examples, name)
        model.compile(optimizer=keras.optimizers.Adam(rate), **task.compile_args(examples))
    monitor = "val_loss" if val is not None else "loss"
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=train_cfg["early_stopping_patience"],
                                         restore_best_weights=True)
    if backup is None:
        history = model.fit(train, validation_data=val, epochs=epochs, verbose=0,
                            callbacks=[stop, *callbacks]).history
        return model, history, monitor
    resumable = ts.ResumableTraining(backup, train_cfg["seed"], stop)
    stream = ts.epoch_stream(train, steps, ts.restored_epoch(backup))
    if strategy:
        multi_worker.prepare(model, strategy, train)
        stream = multi_worker.shard_by_data(stream)
        val = None if val is None else multi_worker.shard_by_data(val)
    model.fit(stream, steps_per_epoch=steps, validation_data=val, epochs=epochs, verbose=0,
              callbacks=[stop, resumable, *callbacks])
    return model, resumable.history, monitor


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
                  prefix: str, strategy=None):
    """Fit one model, resuming from its checkpoint; an ensemble member is also kept in
    ``finished`` until the whole run ends, so an interrupted run reuses it.
    Returns ``(model, history, monitored metric or None for a reused member)``."""
    from seqline.components import training_state as ts
    from seqline.models import load_model

    if finished and os.path.isfile(finished):
        ctx.echo(f"{prefix}: reusing the member finished by the interrupted run")
        return load_model(finished), {}, None
    first_epoch = ts.restored_epoch(backup)
    if first_epoch:
        ctx.echo(f"{prefix + ': ' if prefix else ''}resuming after epoch {first_epoch} from the "
                 f"checkpoint in {backup}")
    model, history, monitor = fit_model(task, examples, cfg, train_cfg, name,
                                        [epoch_logger(ctx, train_cfg["epochs"], prefix)],
                                        backup=backup, strategy=strategy)
    if finished:
        os.makedirs(os.path.dirname(finished), exist_ok=True)
        model.save(finished)
    return model, history, monitor


def _select(task, examples, train_cfg, trained: list, name: str, out_dir: str) -> tuple:
    """Score every member and their average on the eval split (train split without one); save
    them as candidates; return ``(selected model, its label, losses, monitored metric)``."""
    from seqline.components import ensemble

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


def _report_kept_epoch(losses: list, monitor: str, prefix: str, ctx) -> int:
    """Say which epoch's weights early stopping kept when it is not the last one run (a line,
    prefixed with an ensemble member's label); log it as the ``[<label>_]kept_epoch`` param."""
    note = kept_epoch_note(losses, monitor)
    if note:
        ctx.echo(f"{prefix}: {note}" if prefix else note)
    epoch = kept_epoch(losses)
    ctx.log_params({f"{prefix}_kept_epoch" if prefix else "kept_epoch": epoch})
    return epoch


def execute(inputs, outputs, params, ctx) -> dict:
    from seqline.components import multi_worker

    strategy = multi_worker.strategy(params["workers"])   # before any other TensorFlow op
    import keras

    from seqline.components import ensemble, plots, training_state
    from seqline.components.tasks import get_task

    examples, task = inputs["transformed_examples"], get_task(params["task"])
    model_cfg, train_cfg = tuned_sections(params, inputs.get("hyperparameters"), ctx)
    members = ensemble.members(model_cfg)
    key = _backup_key(inputs, params, ctx)
    finished_dir = os.path.join(ctx.state_dir, "members", key)
    out = outputs["model"]
    os.makedirs(out.uri, exist_ok=True)
    started, trained, curves, resumed, kept = time.time(), [], {}, [], {}
    for i, (label, cfg) in enumerate(members):
        single = len(members) == 1
        backup = os.path.join(ctx.state_dir, "backup", key if single else f"{key}-{i}")
        resumed.append(training_state.restored_epoch(backup))
        model, history, monitor = _train_member(
            task, examples, cfg, {**train_cfg, "seed": train_cfg["seed"] + i},
            params["name"] if single else f"{params['name']}_{label}", ctx, backup,
            None if single else os.path.join(finished_dir, f"{i}.keras"), "" if single else label,
            strategy)
        trained.append((label, model))
        if history.get(monitor):
            kept[label] = _report_kept_epoch(history[monitor], monitor, "" if single else label,
                                             ctx)
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
        ctx.log_file(plots.loss_curves(curves, out.path("loss_curves.png"), task.loss_label))
    epochs_run = max((len(v) for v in curves.values()), default=0)
    out.properties.update(backend=keras.backend.backend(), architecture=architecture,
                          members=[label for label, _ in members] if selected else None,
                          selected=selected, candidate_losses=losses,
                          hyperparameters={"model": model_cfg, "training": train_cfg},
                          parameters=int(model.count_params()), epochs_run=epochs_run,
                          resumed_after_epoch=resumed[0] if len(resumed) == 1 else resumed,
                          kept_epoch=kept.get(members[0][0]) if len(members) == 1 else kept,
                          workers=params["workers"],
                          monitor=monitor, best=float(best), task=params["task"])
    return {f"best_{monitor}": float(best), "epochs_run": epochs_run,
            "train_seconds": round(seconds, 2), "parameters": int(model.count_params())}
