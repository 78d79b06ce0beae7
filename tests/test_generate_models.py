"""The language model: causal at every step on every architecture; trains on JAX (the encoders' JAX
training is covered for every architecture in test_models), loads on TensorFlow."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from seqline.models import ARCHITECTURES, build_language_model
from tests.test_generate_text import CORPUS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = {"units": 16, "layers": 2, "dropout": 0.0, "heads": 2, "ff_units": 32}


@pytest.mark.parametrize("kind", ARCHITECTURES)
def test_next_char_probabilities_never_look_ahead(kind):
    model = build_language_model({**CFG, "type": kind}, vocab_size=20)
    x = np.random.default_rng(0).integers(1, 20, size=(3, 12)).astype("int32")
    changed = x.copy()
    changed[:, 7:] = (changed[:, 7:] + 5) % 20
    a, b = model.predict(x, verbose=0), model.predict(changed, verbose=0)
    assert a.shape == (3, 12, 20)
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a[:, :7], b[:, :7], atol=1e-5)
    assert np.abs(a[:, 7:] - b[:, 7:]).max() > 1e-4


JAX_SCRIPT = r"""
import collections, os, sys, numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from seqline.components.tasks.text import numerics as tm
from seqline.models import build_language_model
text = open(sys.argv[2], encoding="utf-8").read(15000)
index = tm.char_index(tm.build_vocab(collections.Counter(text)))
ids = tm.encode(text, index)
windows = np.stack([ids[s:s + 25] for s in tm.sequence_starts(len(ids), 24, 12)])
x, y = windows[:, :-1], windows[:, 1:]
model = build_language_model({"type": "lstm", "units": 24, "layers": 1}, len(index) + 1)
model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
loss = model.fit(x, y, batch_size=64, epochs=2, verbose=0).history["loss"]
# an untrained model scores about ln(V) nats per character; training must get well below it
assert loss[1] < loss[0] and loss[1] < np.log(len(index) + 1) - 0.5, loss
model.save(os.path.join(sys.argv[1], "lstm.keras"))
np.save(os.path.join(sys.argv[1], "lstm.npy"), model.predict(x[:4], verbose=0))
np.save(os.path.join(sys.argv[1], "x.npy"), x[:4])
print("ok")
"""


def test_language_model_trains_on_jax_and_loads_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path), CORPUS], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    x = np.load(tmp_path / "x.npy")
    model = keras.saving.load_model(str(tmp_path / "lstm.keras"))
    np.testing.assert_allclose(model.predict(x, verbose=0), np.load(tmp_path / "lstm.npy"), atol=1e-4)
