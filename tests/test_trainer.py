"""Trainer: trains from TFRecords, and resumes after an interruption into the same model."""
import os

import keras
import numpy as np
import pytest

from seqline.components import example_gen, trainer, transform
from seqline.pipeline.component import Context
from tests.forecast_fixtures import forecast_config, msft_slice, run_executor


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainer")
    cfg = forecast_config(tmp, msft_slice(str(tmp / "msft.csv"), 600),
                          model={"type": "lstm", "units": 8, "dropout": 0.2},
                          training={"epochs": 4, "early_stopping_patience": 1})
    gen = run_executor(example_gen, cfg, {}, str(tmp / "gen"))
    out = run_executor(transform, cfg, {"examples": gen["examples"]}, str(tmp / "tf"))
    return tmp, cfg, out


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_interrupted_training_resumes_from_the_last_epoch(data, schedule):
    tmp, cfg, out = data
    tmp = tmp / schedule
    cfg = {**cfg, "training": {**cfg["training"], "lr_schedule": schedule}}
    inputs = {"transformed_examples": out["transformed_examples"], "transform_graph": out["transform_graph"]}
    lines = []

    def crash_after_epoch_two(line):
        lines.append(line)
        if line.startswith("epoch 2/"):
            raise Interrupt

    state = str(tmp / "state")
    with pytest.raises(Interrupt):
        run_executor(trainer, cfg, inputs, str(tmp / "t1"), Context(echo=crash_after_epoch_two, state_dir=state))
    assert os.listdir(os.path.join(state, "backup"))
    resumed = []
    model = run_executor(trainer, cfg, inputs, str(tmp / "t2"), Context(echo=resumed.append, state_dir=state))
    assert any(line.startswith("resuming after epoch 2 from the checkpoint") for line in resumed)
    epochs = [line.split()[1] for line in resumed if line.startswith("epoch ")]
    assert epochs == ["3/4", "4/4"]
    props = model["model"].properties
    assert props["epochs_run"] == 4 and props["resumed_after_epoch"] == 2
    assert not os.listdir(os.path.join(state, "backup"))   # removed after a finished run
    loaded = keras.saving.load_model(model["model"].path("model.keras"))
    assert loaded.output_shape == (None, 2)
    # the same weights as a fit that was never interrupted (dropout, shuffling, early stopping)
    whole = run_executor(trainer, cfg, inputs, str(tmp / "t0"), Context(state_dir=str(tmp / "s0")))
    reference = keras.saving.load_model(whole["model"].path("model.keras"))
    for a, b in zip(reference.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert whole["model"].properties["best"] == props["best"]


def test_the_cosine_schedule_falls_to_a_tenth_over_the_training_steps():
    assert trainer.learning_rate({"learning_rate": 0.01, "lr_schedule": "constant"}, None) == 0.01
    cosine = trainer.learning_rate({"learning_rate": 0.01, "lr_schedule": "cosine"}, 100)
    rates = [float(cosine(step)) for step in (0, 50, 100, 150)]
    np.testing.assert_allclose(rates, [0.01, 0.0055, 0.001, 0.001], rtol=1e-5)


def test_training_logs_one_line_and_metrics_per_epoch(data):
    tmp, cfg, out = data
    inputs = {"transformed_examples": out["transformed_examples"], "transform_graph": out["transform_graph"]}
    lines, steps = [], []
    params = {}
    ctx = Context(echo=lines.append, log_metrics=lambda m, step=None: steps.append((step, m)),
                  log_params=params.update, state_dir=str(tmp / "state2"))
    model = run_executor(trainer, cfg, inputs, str(tmp / "t3"), ctx)
    val_losses = [m["val_loss"] for _, m in steps]
    kept = 1 + val_losses.index(min(val_losses))
    assert params["kept_epoch"] == kept == model["model"].properties["kept_epoch"]
    said = [line for line in lines if "early stopping kept the weights of epoch" in line]
    assert said == ([] if kept == len(val_losses) else [trainer.kept_epoch_note(val_losses,
                                                                                "val_loss")])
    assert [line.split()[1] for line in lines if line.startswith("epoch")] == ["1/4", "2/4", "3/4", "4/4"]
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    assert "val_loss" in steps[0][1]
    assert os.path.isfile(model["model"].path("loss_curves.png"))
    assert model["model"].properties["architecture"] == "lstm"


def test_the_checkpoint_callback_keeps_asynchronous_step_dispatch(tmp_path):
    """A per-epoch checkpoint must not make Keras wait for every step's logs (it cost a GPU up to
    30% of its throughput while BackupAndRestore's batch hook was inherited). Keras dispatches
    steps asynchronously on thread-safe backends (JAX) when no callback overrides a batch hook."""
    from keras.src.utils.python_utils import is_default

    from seqline.components.training_state import ResumableTraining

    callback = ResumableTraining(str(tmp_path), 0)
    assert all(is_default(getattr(callback, hook))
               for hook in ("on_batch_end", "on_train_batch_end", "on_test_batch_end"))


def test_the_kept_epoch_is_said_and_the_first_of_several_is_warned_about():
    note = trainer.kept_epoch_note([0.5, 0.6, 0.7, 0.55], "val_loss")
    assert note.startswith("warning: early stopping kept the weights of epoch 1 of 4 run: "
                           "val_loss did not improve on its 0.5000 in the 3 later epochs;")
    assert trainer.kept_epoch_note([0.5, 0.4, 0.45], "val_loss") == (
        "early stopping kept the weights of epoch 2 of 3 run: val_loss did not improve on its "
        "0.4000 in the 1 later epoch")
    assert trainer.kept_epoch_note([0.5, 0.4], "val_loss") is None     # the last one: nothing
    assert trainer.kept_epoch_note([0.5], "val_loss") is None
    nan = float("nan")
    assert [trainer.kept_epoch(v) for v in ([0.3, 0.2, 0.2], [nan, 0.4, 0.5], [nan, nan], [])] == [
        2, 2, 1, 1]                                # ties keep the first, as Keras does
