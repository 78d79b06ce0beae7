"""CTC model pieces: decoding known logits, the padded-frame trick, error rates, and training on
JAX with the .keras file loading on TensorFlow."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from seqline.components.tasks.speech.text import (ctc_steps, edit_distance, encode_labels,
                                                  error_rates)
from seqline.models.ctc import CTCLoss, CTCOutput, FrameMask, build_ctc_model, ctc_decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def logits_of(paths, classes=4, sharp=10.0):
    """Logits whose per-frame argmax is ``paths[b][t]``."""
    out = np.zeros((len(paths), len(paths[0]), classes), "float32")
    for b, path in enumerate(paths):
        out[b, np.arange(len(path)), path] = sharp
    return out


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    logits = logits_of([[1, 1, 0, 2, 2, 3], [1, 0, 1, 0, 0, 0]])
    ids = np.asarray(ctc_decode(logits, "greedy"))
    assert [i for i in ids[0] if i >= 0] == [1, 2, 3]
    assert [i for i in ids[1] if i >= 0] == [1, 1]     # a blank separates a real repeat


def test_beam_search_finds_the_likelier_label_that_greedy_misses():
    # two frames, P(blank) = 0.6, P(a) = 0.4 each: greedy says "" (0.36); "a" has 0.64
    p = np.log(np.array([[[0.6, 0.4], [0.6, 0.4]]], "float32"))
    assert [i for i in np.asarray(ctc_decode(p, "greedy"))[0] if i >= 0] == []
    assert [i for i in np.asarray(ctc_decode(p, "beam_search", beam_width=4))[0] if i >= 0] == [1]


def test_forced_blank_padding_leaves_the_loss_and_decoding_unchanged():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 9, 5)).astype("float32")
    labels = np.array([[2, 3, 3]], "int32")
    true = ops.ctc_loss(labels, logits[:, :6], np.array([3]), np.array([6]))
    valid = np.arange(9)[None, :] < 6
    padded = CTCOutput()(logits, valid)
    got = CTCLoss(reduction=None)(np.array([[2, 3, 3, 0, 0]]), padded)
    np.testing.assert_allclose(np.asarray(got), np.asarray(true), rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(ctc_decode(padded))[0, :6],
                                  np.asarray(ctc_decode(logits[:, :6]))[0])


def test_frame_mask_follows_the_stride():
    mask = FrameMask(3)(np.zeros((2, 4, 1), "float32"), np.array([12, 7]))
    np.testing.assert_array_equal(np.asarray(mask), [[1, 1, 1, 1], [1, 1, 1, 0]])


def test_a_clip_transcribes_the_same_alone_and_in_a_padded_batch():
    cfg = {"type": "gru", "units": 8, "layers": 2, "bidirectional": True, "conv_layers": 1,
           "conv_filters": 8, "conv_kernel": 5, "conv_stride": 2}
    model = build_ctc_model(cfg, 6, 4)
    x = np.random.default_rng(1).normal(size=(2, 21, 6)).astype("float32")
    x[1, 13:] = 0.0
    batch = np.asarray(model({"features": x, "lengths": np.array([21, 13])}))
    alone = np.asarray(model({"features": x[1:, :13], "lengths": np.array([13])}))
    np.testing.assert_allclose(alone[0], batch[1, :7], atol=1e-5)


def test_labels_and_error_rates():
    vocab = [" ", "e", "f", "n", "o", "r", "u"]
    assert encode_labels("fun one!", vocab) == [3, 7, 4, 1, 5, 4, 2]   # '!' is not in the vocabulary
    assert ctc_steps(encode_labels("ee", vocab)) == 3
    assert edit_distance("kitten", "sitting") == 3
    rates = error_rates(["four one", "one"], ["for one", "one"])
    assert rates["cer"] == pytest.approx(1 / 11) and rates["wer"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        error_rates(["a", "b"], ["a"])


JAX_SCRIPT = r"""
import sys, numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from seqline.models.ctc import CTCLoss, build_ctc_model, ctc_decode
rng = np.random.default_rng(0)
# each label is "spoken" as 4 frames of its one-hot pattern plus noise
labels = rng.integers(1, 4, (64, 3))
x = np.repeat(np.eye(4, dtype="float32")[labels], 4, axis=1) + 0.3 * rng.normal(size=(64, 12, 4)).astype("float32")
inputs = {"features": x, "lengths": np.full(64, 12, "int32")}
cfg = {"type": "lstm", "units": 16, "layers": 1, "bidirectional": True, "conv_layers": 1,
       "conv_filters": 16, "conv_kernel": 3, "conv_stride": 2}
model = build_ctc_model(cfg, 4, 3)
model.compile(keras.optimizers.Adam(0.02), loss=CTCLoss())
history = model.fit(inputs, labels.astype("int32"), epochs=15, batch_size=16, verbose=0).history
assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]
ids = np.asarray(ctc_decode(model.predict(inputs, verbose=0)))
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/logits.npy", model.predict(inputs, verbose=0))
model.save(sys.argv[1] + "/ctc.keras")
print(sum(list(i[i >= 0]) == list(l) for i, l in zip(ids, labels)))
"""


def test_ctc_model_trains_on_jax_and_loads_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 32        # most of the 64 label strings decoded exactly
    model = keras.saving.load_model(str(tmp_path / "ctc.keras"))
    x = np.load(tmp_path / "x.npy")
    logits = model.predict({"features": x, "lengths": np.full(len(x), 12, "int32")}, verbose=0)
    np.testing.assert_allclose(logits, np.load(tmp_path / "logits.npy"), atol=1e-3)
