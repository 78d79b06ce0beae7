"""Model registry: every architecture builds, trains, saves and loads, on TensorFlow and JAX."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from seqline.models import ARCHITECTURES, build_model
from seqline.models.positional_encoding import PositionalEncoding
from seqline.models.transformer import transformer_encoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = {"units": 8, "layers": 2, "dropout": 0.1, "heads": 2, "ff_units": 16}


@pytest.mark.parametrize("kind", ARCHITECTURES)
def test_builds_trains_and_round_trips(kind, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 12, 3)).astype("float32"), rng.normal(size=(64, 2)).astype("float32")
    model = build_model({**CFG, "type": kind}, (12, 3), "forecast", outputs=2)
    model.compile("adam", "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    path = str(tmp_path / f"{kind}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="model.type must be one of"):
        build_model({**CFG, "type": "rnn"}, (5, 1), "forecast", 1)


def test_transformer_is_causal():
    inputs = keras.Input((10, 2))
    model = keras.Model(inputs, transformer_encoder(inputs, units=8, layers=2, heads=2, ff_units=16,
                                                    return_sequences=True))
    x = np.random.default_rng(1).normal(size=(2, 10, 2)).astype("float32")
    changed = x.copy()
    changed[:, 6:] += 5.0
    a, b = model.predict(x, verbose=0), model.predict(changed, verbose=0)
    np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-5)   # the past ignores the future
    assert np.abs(a[:, 6:] - b[:, 6:]).max() > 1e-3


def test_positional_encoding_matches_the_formula():
    out = keras.ops.convert_to_numpy(PositionalEncoding()(np.zeros((1, 4, 6), "float32")))[0]
    pos, i = np.arange(4)[:, None], np.arange(6)[None, :]
    angle = pos / np.power(10000.0, 2 * (i // 2) / 6)
    np.testing.assert_allclose(out, np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), atol=1e-6)


JAX_SCRIPT = r"""
import os, sys, numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from seqline.models import ARCHITECTURES, build_model
rng = np.random.default_rng(0)
x, y = rng.normal(size=(64, 12, 3)).astype("float32"), rng.normal(size=(64, 2)).astype("float32")
for kind in ARCHITECTURES:
    model = build_model({"type": kind, "units": 8, "layers": 2, "dropout": 0.1, "heads": 2,
                         "ff_units": 16}, (12, 3), "forecast", outputs=2)
    model.compile("adam", "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < before, (kind, before, after)
    model.save(os.path.join(sys.argv[1], kind + ".keras"))
    np.save(os.path.join(sys.argv[1], kind + ".npy"), model.predict(x[:4], verbose=0))
print("ok")
"""


def test_every_architecture_trains_on_jax_and_loads_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    x = np.random.default_rng(0).normal(size=(64, 12, 3)).astype("float32")
    for kind in ARCHITECTURES:
        model = keras.saving.load_model(str(tmp_path / f"{kind}.keras"))
        np.testing.assert_allclose(model.predict(x[:4], verbose=0), np.load(tmp_path / f"{kind}.npy"),
                                   atol=1e-4)
