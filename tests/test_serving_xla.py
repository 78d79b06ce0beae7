"""XLA-compiled signatures: padded batch buckets, compiled in the background, graph fallback."""
import os
import time

import numpy as np
import tensorflow as tf

from seqline.serving import servables
from seqline.serving.servables import TensorInfo
from seqline.serving.xla import XlaBuckets, batch_major
from tests.serving_helpers import MODEL, msft_windows


def wait_compiled(predict: XlaBuckets, bucket: int, seconds: float = 180) -> str:
    deadline = time.monotonic() + seconds
    while predict.state.get(bucket) == "compiling" and time.monotonic() < deadline:
        time.sleep(0.05)
    return predict.state.get(bucket)


def test_batches_are_padded_to_compiled_buckets_and_answer_like_the_graph(exported):
    version_dir = os.path.join(exported.serving_dir, MODEL, "1")
    servable = servables.load(version_dir, echo=print)
    predict = servable.signatures["serving_default"].predict
    assert isinstance(predict, XlaBuckets) and predict.state == {1: "xla"}   # compiled at load
    graph = tf.saved_model.load(version_dir).signatures["serving_default"]
    windows = msft_windows(5)
    expected = graph(window=tf.constant(windows))["forecast"].numpy()
    first = predict({"window": windows})["forecast"]            # on the graph while 8 compiles
    assert predict.state[8] in ("compiling", "xla")
    np.testing.assert_allclose(first, expected, rtol=1e-6)
    assert wait_compiled(predict, 8) == "xla"
    padded = predict({"window": windows})["forecast"]           # 5 examples padded to 8
    assert padded.shape == (5, 1)
    np.testing.assert_allclose(padded, expected, rtol=1e-5)
    np.testing.assert_allclose(predict({"window": windows[:1]})["forecast"], expected[:1], rtol=1e-5)
    plain = servables.load(version_dir, xla=False).signatures["serving_default"].predict
    assert not isinstance(plain, XlaBuckets)


def test_a_bucket_that_answers_differently_or_does_not_compile_stays_on_the_graph():
    inputs = {"x": TensorInfo(np.dtype("float32"), (-1, 2), "x:0")}
    x = np.asarray([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    events = []

    def doubled(x):
        return {"y": x * 2}

    def off_by_one(feed):
        return {"y": feed["x"] * 2 + 1}

    wrong = XlaBuckets(doubled, inputs, off_by_one, "test", events.append)
    wrong.compile(4, {"x": x})
    assert wrong.state == {4: "graph"} and "XLA answers differ" in events[-1]
    np.testing.assert_array_equal(wrong({"x": x})["y"], x * 2 + 1)

    def not_compilable(x):
        return {"y": tf.numpy_function(lambda a: a * 2, [x], tf.float32)}

    def graph(feed):
        return {"y": feed["x"] * 2}

    failing = XlaBuckets(not_compilable, inputs, graph, "test", events.append)
    failing.compile(4, {"x": x})
    assert failing.state == {4: "graph"} and "no XLA for batch size 4" in events[-1]
    np.testing.assert_array_equal(failing({"x": x})["y"], x * 2)


def test_only_batch_major_signatures_are_padded():
    batch = TensorInfo(np.dtype("float32"), (-1, 3), "a")
    assert batch_major({"a": batch}, {"b": batch})
    assert not batch_major({"a": batch}, {"b": TensorInfo(np.dtype("float32"), (), "b")})
    assert not batch_major({"a": TensorInfo(np.dtype("float32"), (4, 3), "a")}, {"b": batch})
    assert not batch_major({"a": TensorInfo(np.dtype("float32"), None, "a")}, {"b": batch})
