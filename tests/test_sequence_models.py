"""The whole-sequence and per-step classification heads: padded steps never change a prediction,
for every architecture, one way and bidirectional; both heads train on JAX and load on TF."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from seqline.models import ARCHITECTURES, build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = {"units": 8, "layers": 2, "dropout": 0.1, "heads": 2, "ff_units": 16}
FEATURES = 3


def predict(model, x) -> np.ndarray:
    """An eager call (cheaper than ``predict`` for a few rows of new shapes)."""
    return keras.ops.convert_to_numpy(model(np.asarray(x), training=False))


def padded(series: np.ndarray, steps: int) -> np.ndarray:
    """The model input of ``series``: features plus the valid-step indicator, zeros after."""
    out = np.zeros((steps, FEATURES + 1), "float32")
    out[:len(series), :FEATURES] = series
    out[:len(series), FEATURES] = 1.0
    return out


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("kind", ARCHITECTURES)
def test_padding_never_changes_a_prediction(kind, bidirectional):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, FEATURES)), rng.normal(size=(13, FEATURES))
    cfg = {**CFG, "type": kind, "bidirectional": bidirectional}
    for task in ("classify", "label"):
        model = build_model(cfg, (None, FEATURES + 1), task, 3, masked=True)
        short = predict(model, np.stack([padded(a, 25), padded(b, 25)]))
        long = predict(model, np.stack([padded(a, 60), padded(b, 60)]))
        if task == "label":
            np.testing.assert_allclose(short[0, :20], long[0, :20], atol=1e-5)
            np.testing.assert_allclose(short[1, :13], long[1, :13], atol=1e-5)
        else:
            np.testing.assert_allclose(short, long, atol=1e-5)
        changed = a.copy()
        changed[-1] += 3.0     # the last valid step does matter, so the comparison can fail
        other = predict(model, np.stack([padded(changed, 25), padded(b, 25)]))
        assert np.abs(other[0] - short[0]).max() > 1e-4, (task, "ignores its input")


def test_without_the_mask_padding_would_change_the_prediction():
    a = np.random.default_rng(1).normal(size=(20, FEATURES))
    model = build_model({**CFG, "type": "lstm"}, (None, FEATURES + 1), "classify", 3)
    short, long = (predict(model, padded(a, n)[None]) for n in (25, 60))
    assert np.abs(short - long).max() > 1e-4


def test_bidirectional_recurrent_layers_see_later_steps():
    model = build_model({**CFG, "type": "gru", "bidirectional": True}, (10, 2), "label", 2)
    x = np.random.default_rng(2).normal(size=(1, 10, 2)).astype("float32")
    later = x.copy()
    later[:, 7:] += 2.0
    a, b = predict(model, x), predict(model, later)
    assert np.abs(a[:, :7] - b[:, :7]).max() > 1e-4
    one_way = build_model({**CFG, "type": "gru"}, (10, 2), "label", 2)
    np.testing.assert_allclose(predict(one_way, x)[:, :7], predict(one_way, later)[:, :7],
                               atol=1e-6)


def test_the_heads_need_two_classes():
    with pytest.raises(ValueError, match="outputs must be >= 2"):
        build_model({**CFG, "type": "gru"}, (10, 2), "classify", 1)


JAX_SCRIPT = r"""
import os, sys, numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from seqline.models import ARCHITECTURES, build_model
rng = np.random.default_rng(0)
lengths = rng.integers(5, 16, size=48)
x = np.zeros((48, 16, 3), "float32")
valid = np.arange(16)[None, :] < lengths[:, None]
x[..., :2] = rng.normal(size=(48, 16, 2)) * valid[..., None]
x[..., 2] = valid
targets = {"classify": (x[:, :, 0].sum(1) > 0).astype("int64"),
           "label": (x[:, :, 0] > 0).astype("int64")}
for task, y in targets.items():
    for kind in ARCHITECTURES:
        cfg = {"type": kind, "units": 8, "layers": 1, "dropout": 0.0, "heads": 2,
               "ff_units": 16, "bidirectional": task == "label"}
        model = build_model(cfg, (16, 3), task, 2, masked=True)
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        loss = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
        assert loss[-1] < loss[0], (task, kind, loss)
        name = os.path.join(sys.argv[1], f"{task}_{kind}")
        model.save(name + ".keras")
        np.save(name + ".npy", model.predict(x[:4], verbose=0))
np.save(os.path.join(sys.argv[1], "x.npy"), x[:4])
print("ok")
"""


def test_both_heads_train_on_jax_for_every_architecture_and_load_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    x = np.load(tmp_path / "x.npy")
    for task in ("classify", "label"):
        for kind in ARCHITECTURES:
            model = keras.saving.load_model(str(tmp_path / f"{task}_{kind}.keras"))
            np.testing.assert_allclose(model.predict(x, verbose=0),
                                       np.load(tmp_path / f"{task}_{kind}.npy"), atol=1e-4)
