"""Tuner (optional; runs when the config has a ``tuning`` section): searches
``tuning.search_space`` with Optuna's TPE sampler for the model and training hyperparameters with
the lowest eval-split loss.

Each trial fits one model as the Trainer would (same datasets, loss, early stopping) for
``tuning.epochs`` epochs and is one MLflow run nested in the Tuner's run. The search stops after
``tuning.max_trials`` trials or ``tuning.max_seconds`` seconds: a trial still training when the
time is up stops at the end of its epoch and is recorded as pruned, not scored.

``lookback`` is tuned without rerunning Transform: the task's model reads the last ``lookback``
steps of the windows Transform wrote (forecast only; see :mod:`seqline.pipeline.model_choices`).

Output
    best_hyperparameters: ``best_hyperparameters.json`` (``model`` and ``training`` overrides the
        Trainer applies, the objective value, trial counts), ``trials.csv``, ``tuning_history.png``.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import time

from seqline.pipeline.component import ComponentSpec
from seqline.pipeline.errors import DataError, SeqlineError
from seqline.pipeline.model_choices import INTEGER_KEYS, TUNABLE

SPEC = ComponentSpec(
    name="Tuner",
    inputs={"transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph")},
    outputs={"best_hyperparameters": "HyperParameters"},
    description="search hyperparameters (Optuna), one nested MLflow run per trial",
)
OBJECTIVE = "val_loss"


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], "model": dict(cfg["model"]), "training": dict(cfg["training"]),
            "tuning": dict(cfg["tuning"]), "name": cfg["name"]}


def suggest(trial, space: dict) -> dict:
    """One value per search-space key for the Optuna ``trial``."""
    values = {}
    for name, choices in space.items():
        if isinstance(choices, list):
            values[name] = trial.suggest_categorical(name, choices)
        elif name in INTEGER_KEYS:
            values[name] = trial.suggest_int(name, int(choices["low"]), int(choices["high"]),
                                             log=choices.get("log", False))
        else:
            values[name] = trial.suggest_float(name, float(choices["low"]), float(choices["high"]),
                                               log=choices.get("log", False))
    return values


def sections(values: dict) -> dict:
    """``{"model": {...}, "training": {...}}``: tuned values by the config section they override."""
    out = {"model": {}, "training": {}}
    for name, value in values.items():
        out[TUNABLE[name]][name] = value
    return out


def deadline_callback(deadline: float):
    """A Keras callback that stops training at the end of the epoch that passes ``deadline``
    (``time.time()`` seconds) and remembers that it did (``passed``)."""
    import keras

    class Deadline(keras.callbacks.Callback):
        passed = False

        def on_epoch_end(self, epoch, logs=None):
            if time.time() > deadline:
                self.passed = True
                self.model.stop_training = True

    return Deadline()


def _trial_logger(mlflow):
    import keras

    class TrialLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            mlflow.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch + 1)

    return TrialLogger()


def _write_trials(study, path: str, seconds: dict) -> None:
    names = sorted({k for t in study.trials for k in t.params})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["trial", "state", OBJECTIVE, "seconds", *names])
        for t in study.trials:
            writer.writerow([t.number + 1, t.state.name.lower(), "" if t.value is None else t.value,
                             f"{seconds.get(t.number, 0):.1f}", *[t.params.get(k, "") for k in names]])


def execute(inputs, outputs, params, ctx) -> dict:
    import mlflow
    import optuna

    from seqline.components import plots
    from seqline.components.tasks import get_task
    from seqline.components.trainer import fit_model

    examples, tuning = inputs["transformed_examples"], params["tuning"]
    if examples.properties["split_counts"].get("eval", 0) == 0:
        raise DataError("Tuner: trials are scored on the eval split, which is empty; "
                        "set data.split.eval above 0")
    task = get_task(params["task"])
    seed = tuning["seed"] if tuning["seed"] is not None else params["training"]["seed"]
    epochs = tuning["epochs"] or params["training"]["epochs"]
    started = time.time()
    deadline = started + tuning["max_seconds"]
    seconds = {}
    tracked = mlflow.active_run() is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial):
        chosen = sections(suggest(trial, tuning["search_space"]))
        model_cfg = {**params["model"], **chosen["model"], "ensemble": None}
        train_cfg = {**params["training"], **chosen["training"], "seed": seed}
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in trial.params.items())
        begun = time.time()
        run = (mlflow.start_run(run_name=f"trial {trial.number + 1}", nested=True,
                                tags={"seqline.trial": str(trial.number + 1)})
               if tracked else contextlib.nullcontext())
        with run:
            if tracked:
                mlflow.log_params({f"{section}.{k}": v for section, values in chosen.items()
                                   for k, v in values.items()})
            deadline_cb = deadline_callback(deadline)
            callbacks = [deadline_cb] + ([_trial_logger(mlflow)] if tracked else [])
            _, history, _ = fit_model(task, examples, model_cfg, train_cfg,
                                      f"{params['name']}_trial_{trial.number + 1}", callbacks, epochs)
            seconds[trial.number] = time.time() - begun
            if deadline_cb.passed:
                ctx.echo(f"trial {trial.number + 1}: {shown} stopped by the time budget "
                         f"(tuning.max_seconds={tuning['max_seconds']}): not scored")
                if tracked:
                    mlflow.set_tag("seqline.trial_state", "pruned")
                raise optuna.TrialPruned("time budget")
            value = float(min(history[OBJECTIVE]))
            if tracked:
                mlflow.log_metric(f"best_{OBJECTIVE}", value)
                mlflow.set_tag("seqline.trial_state", "complete")
        best = all(t.value is None or value <= t.value for t in study.trials if t.number != trial.number)
        ctx.echo(f"trial {trial.number + 1}/{tuning['max_trials']}: {shown} -> {OBJECTIVE} "
                 f"{value:.4f}{' (best so far)' if best else ''} ({seconds[trial.number]:.1f}s)")
        return value

    study.optimize(objective, n_trials=tuning["max_trials"], timeout=tuning["max_seconds"])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise SeqlineError(f"Tuner: no trial finished within tuning.max_seconds="
                           f"{tuning['max_seconds']}; raise it or lower tuning.epochs")
    best = study.best_trial
    chosen = sections(best.params)
    out = outputs["best_hyperparameters"]
    os.makedirs(out.uri, exist_ok=True)
    result = {**chosen, "objective": OBJECTIVE, "value": best.value, "trial": best.number + 1,
              "trials_finished": len(done), "trials_run": len(study.trials),
              "search_space": tuning["search_space"], "epochs_per_trial": epochs}
    with open(out.path("best_hyperparameters.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    _write_trials(study, out.path("trials.csv"), seconds)
    ctx.log_file(plots.tuning_history([t.value for t in done], out.path("tuning_history.png"), OBJECTIVE))
    for name in ("best_hyperparameters.json", "trials.csv"):
        ctx.log_file(out.path(name))
    out.properties.update(best=chosen, value=best.value, trial=best.number + 1,
                          trials_finished=len(done), objective=OBJECTIVE)
    ctx.echo(f"best: trial {best.number + 1} {OBJECTIVE} {best.value:.4f}: " +
             ", ".join(f"{k}={v}" for k, v in best.params.items()))
    return {f"best_{OBJECTIVE}": best.value, "trials_finished": len(done),
            "trials_run": len(study.trials), "search_seconds": round(time.time() - started, 1)}
