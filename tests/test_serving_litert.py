"""``.tflite`` versions served through LiteRT, next to SavedModels, with the same API."""
import json
import os
import shutil
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqline.serving.batching import BatchOptions
from tests.serving_helpers import MODEL, call, msft_windows, serving_thread

EDGE = "msft_close_edge"


@pytest.fixture(scope="module")
def edge_base(exported, tmp_path_factory):
    """The exported SavedModel plus a small Keras forecaster converted to LiteRT (builtin ops)."""
    base = tmp_path_factory.mktemp("edge_base")
    shutil.copytree(os.path.join(exported.serving_dir, MODEL, "1"), base / MODEL / "1")
    keras.utils.set_random_seed(3)
    window = keras.Input((30, 2), name="window")
    scaled = keras.layers.Rescaling([0.01, 1e-8])(window)
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(scaled))
    model = keras.Model(window, keras.layers.Dense(1)(hidden))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    version = base / EDGE / "3"
    version.mkdir(parents=True)
    (version / "model.tflite").write_bytes(converter.convert())
    (version / "metadata.json").write_text(json.dumps({"task": "forecast", "note": "test"}))
    return base, model


def test_litert_version_answers_like_the_keras_model(edge_base):
    base, model = edge_base
    windows = msft_windows(5)
    expected = model.predict(windows, verbose=0)
    with serving_thread(str(base)) as (url, models):
        assert models.get(EDGE).versions[3].kind == "LiteRT"
        assert models.get(MODEL).versions[1].kind == "SavedModel"
        status, rows = call(url, "POST", f"/v1/models/{EDGE}:predict",
                            {"instances": windows.tolist()})
        assert status == 200
        np.testing.assert_allclose(rows["predictions"], expected, rtol=1e-5, atol=1e-5)
        status, columns = call(url, "POST", f"/v1/models/{EDGE}/versions/3:predict",
                               {"inputs": {"window": windows[:1].tolist()}})
        assert status == 200
        np.testing.assert_allclose(columns["outputs"], expected[:1], rtol=1e-5, atol=1e-5)

        status, meta = call(url, "GET", f"/v1/models/{EDGE}/metadata")
        signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert status == 200 and meta["metadata"]["seqline"] == {"task": "forecast"}
        assert signature["inputs"]["window"]["dtype"] == "DT_FLOAT"
        assert [d["size"] for d in signature["inputs"]["window"]["tensor_shape"]["dim"]] == \
            ["-1", "30", "2"]
        status, answer = call(url, "POST", f"/v1/models/{EDGE}:predict",
                              {"instances": windows[:1, :29].tolist()})
        assert status == 400 and "the model expects [batch, 30, 2]" in answer["error"]


@pytest.mark.parametrize("batching", [None, BatchOptions(max_batch=8, timeout_ms=2.0)],
                         ids=["alone", "batching"])
def test_litert_calls_from_many_threads_are_serialized_correctly(edge_base, batching):
    base, model = edge_base
    windows = msft_windows(12)
    expected = model.predict(windows, verbose=0)
    results = []

    def client(i):
        for j in range(8):   # batch sizes vary, so the interpreter is resized between calls
            k = (i + j) % 6
            status, answer = call(url, "POST", f"/v1/models/{EDGE}:predict",
                                  {"instances": windows[k:k + 1 + j % 4].tolist()})
            results.append(status == 200 and np.allclose(answer["predictions"],
                                                          expected[k:k + 1 + j % 4], atol=1e-5))

    with serving_thread(str(base), batching=batching) as (url, _):
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert len(results) == 32 and all(results)


def test_an_unreadable_tflite_file_is_reported_not_served(tmp_path):
    version = tmp_path / "broken" / "1"
    version.mkdir(parents=True)
    (version / "model.tflite").write_bytes(b"TFL3 but not really a flatbuffer")
    with serving_thread(str(tmp_path)) as (url, _):
        status, answer = call(url, "GET", "/v1/models/broken")
        assert status == 200
        (row,) = answer["model_version_status"]
        assert row["state"] == "END" and "version 1 failed to load" in row["status"]["error_message"]
        status, answer = call(url, "POST", "/v1/models/broken:predict", {"instances": [1]})
        assert status == 503 and "has no version loaded" in answer["error"]


def test_a_batch_1_lstm_edge_model_answers_every_row_as_a_new_sequence(tmp_path):
    """The Compressor's edge LSTM (fused kernel, batch-1 signature, state in variable tensors) is
    served at any batch size, and no row sees the state a previous row left."""
    from seqline.components.compression import tflite_export
    from seqline.components.compression.keras_twin import twin_of
    from seqline.models import build_model

    keras.utils.set_random_seed(5)
    model = build_model({"type": "lstm", "units": 8, "layers": 1}, (30, 2), "forecast", outputs=1)
    rng = np.random.default_rng(7)   # the head starts at zero: give it weights worth comparing
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.3 for w in model.get_weights()])
    windows = np.random.default_rng(5).normal(size=(6, 30, 2)).astype("float32")
    twin, _ = twin_of(model, windows)
    flatbuffer = tflite_export.convert(tflite_export.save_twin(twin.model, str(tmp_path / "twin")),
                                       "float32")
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in tflite_export.op_names(flatbuffer)
    version = tmp_path / "base" / "lstm_edge" / "1"
    version.mkdir(parents=True)
    (version / "model.tflite").write_bytes(flatbuffer)
    with serving_thread(str(tmp_path / "base")) as (url, _):
        for rows in (windows, windows[::-1], windows[:1]):
            status, answer = call(url, "POST", "/v1/models/lstm_edge:predict",
                                  {"instances": rows.tolist()})
            assert status == 200, answer
            np.testing.assert_allclose(answer["predictions"], model.predict(rows, verbose=0),
                                       rtol=1e-4, atol=1e-5)
