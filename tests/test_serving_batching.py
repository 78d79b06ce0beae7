"""Request batching: concurrent requests merged into one model call, split back, errors kept apart.

Merging is made deterministic by holding the model's first call on an event until the next
requests have queued behind it (``Batcher.pending``), never by sleeping.
"""
import os
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqline.serving import servables
from seqline.serving.batching import Batcher, BatchOptions
from tests.serving_helpers import MODEL, call, msft_windows, python_forecast, serving_thread

WAIT = 60     # seconds any wait below may take before the test fails (a hang, not a slowness)


class Model:
    """``y = 2 x`` per row; records the batch of every call; refuses negative inputs."""

    def __init__(self):
        self.calls, self.gate = [], threading.Event()
        self.gate.set()

    def __call__(self, inputs: dict) -> dict:
        self.calls.append(len(inputs["x"]))
        assert self.gate.wait(WAIT)
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2}


def submit(batcher, x: np.ndarray, results: dict, key) -> threading.Thread:
    def run():
        try:
            results[key] = batcher({"x": x})["y"]
        except Exception as exc:
            results[key] = exc
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def until(condition) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the batcher"
        time.sleep(0.001)


def rows(*values) -> np.ndarray:
    return np.asarray([[v, v + 0.5] for v in values], np.float32)


def held_then_queued(batcher, model, requests: dict, queued: list) -> dict:
    """Hold a first request in the model, queue ``requests`` behind it, release; the answers."""
    results = {}
    model.gate.clear()
    threads = [submit(batcher, rows(100), results, "first")]
    until(lambda: model.calls == [1])
    total = 0
    for key, x in requests.items():
        threads.append(submit(batcher, x, results, key))
        total += len(x)
        until(lambda: sum(batcher.pending()) == total)
    assert batcher.pending() == queued
    model.gate.set()
    for thread in threads:
        thread.join(WAIT)
    return results


def test_requests_queued_behind_a_call_are_merged_and_split_back():
    model = Model()
    batcher = Batcher(model, BatchOptions(max_batch=8, timeout_ms=0))
    requests = {"a": rows(1), "b": rows(2, 3, 4), "c": rows(5, 6)}
    results = held_then_queued(batcher, model, requests, queued=[6])
    assert model.calls == [1, 6]                      # three requests, one model call
    for key, x in requests.items():
        np.testing.assert_array_equal(results[key], x * 2)
    np.testing.assert_array_equal(results["first"], rows(100) * 2)


def test_a_batch_closes_at_the_size_limit_and_runs_in_order():
    model = Model()
    batcher = Batcher(model, BatchOptions(max_batch=4, timeout_ms=0))
    requests = {"a": rows(1, 2, 3), "b": rows(4, 5), "c": rows(6, 7), "d": rows(8)}
    results = held_then_queued(batcher, model, requests, queued=[3, 4, 1])
    assert model.calls == [1, 3, 4, 1]
    for key, x in requests.items():
        np.testing.assert_array_equal(results[key], x * 2)


def test_a_bad_request_fails_alone_and_its_neighbours_get_their_answers():
    model = Model()
    observed = []
    batcher = Batcher(model, BatchOptions(max_batch=8, timeout_ms=0),
                      lambda n, seconds: observed.append(n))
    requests = {"a": rows(1), "bad": rows(-1, 2), "c": rows(3, 4)}
    results = held_then_queued(batcher, model, requests, queued=[5])
    assert model.calls == [1, 5, 1, 2, 2]             # the merged call failed: each alone
    assert isinstance(results["bad"], ValueError) and str(results["bad"]) == "negative input"
    np.testing.assert_array_equal(results["a"], rows(1) * 2)
    np.testing.assert_array_equal(results["c"], rows(3, 4) * 2)
    assert observed == [1, 1, 2]          # calls that answered (the failed ones are not timed)


def packed(sizes: list, limit: int) -> list:
    """The batches requests of ``sizes`` (each below ``limit``) form in arrival order."""
    batches, full = [], True
    for size in sizes:
        if full or batches[-1] + size > limit:
            batches.append(0)
        batches[-1] += size
        full = batches[-1] >= limit
    return batches


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8).flatmap(lambda limit: st.tuples(
    st.just(limit), st.lists(st.integers(1, limit - 1), min_size=1, max_size=6))))
def test_any_queued_requests_are_packed_in_order_and_each_gets_its_rows(case):
    limit, sizes = case
    model = Model()
    batcher = Batcher(model, BatchOptions(max_batch=limit, timeout_ms=0))
    starts = np.cumsum([0] + sizes)
    requests = {i: rows(*range(starts[i], starts[i + 1])) for i in range(len(sizes))}
    results = held_then_queued(batcher, model, requests, queued=packed(sizes, limit))
    assert model.calls == [1] + packed(sizes, limit)
    for i, x in requests.items():
        np.testing.assert_array_equal(results[i], x * 2)


def test_a_full_batch_runs_without_waiting_for_its_timeout():
    model = Model()
    batcher = Batcher(model, BatchOptions(max_batch=3, timeout_ms=60_000, threads=1))
    results = {}
    threads = [submit(batcher, rows(i), results, i) for i in range(3)]
    for thread in threads:
        thread.join(WAIT)
    assert not any(t.is_alive() for t in threads)     # not held for the 60 s timeout
    assert model.calls == [3]
    for i in range(3):
        np.testing.assert_array_equal(results[i], rows(i) * 2)


def test_a_request_as_large_as_a_batch_runs_at_once_beside_a_running_call():
    model = Model()
    batcher = Batcher(model, BatchOptions(max_batch=2, timeout_ms=0, threads=1))
    results = {}
    model.gate.clear()
    held = submit(batcher, rows(1), results, "held")
    until(lambda: model.calls == [1])
    big = submit(batcher, rows(2, 3), results, "big")
    until(lambda: model.calls == [1, 2])          # not queued behind the held call
    model.gate.set()
    for thread in (held, big):
        thread.join(WAIT)
    np.testing.assert_array_equal(results["big"], rows(2, 3) * 2)
    np.testing.assert_array_equal(results["held"], rows(1) * 2)


def test_inputs_of_different_shapes_are_never_merged():
    model = Model()
    batcher = Batcher(model, BatchOptions(max_batch=8, timeout_ms=0))
    requests = {"two": rows(1), "three": np.ones((2, 3), np.float32)}
    results = held_then_queued(batcher, model, requests, queued=[1, 2])
    assert model.calls == [1, 1, 2]
    np.testing.assert_array_equal(results["three"], np.full((2, 3), 2, np.float32))


def merged_windows(signature, windows: np.ndarray) -> tuple:
    """Windows 1-8 in requests of 1, 2, 2 and 3 queued behind window 0 (``max_batch`` 5):
    ``(model calls, the outputs of windows 0-8 in order)``."""
    gate, calls = threading.Event(), []

    def held(inputs):
        calls.append(len(inputs["window"]))
        assert gate.wait(WAIT)
        return signature.predict(inputs)

    batcher = Batcher(held, BatchOptions(max_batch=5, timeout_ms=0))
    results, threads = {}, []
    output = next(iter(signature.outputs))

    def send(i, j):
        threads.append(threading.Thread(
            target=lambda: results.__setitem__(i, batcher({"window": windows[i:j]})[output])))
        threads[-1].start()

    send(0, 1)
    until(lambda: calls == [1])
    for i, j in ((1, 2), (2, 4), (4, 6), (6, 9)):     # 1 + 2 + 2 | 3: batches of 5 and 3
        send(i, j)
        until(lambda: sum(batcher.pending()) == j - 1)
    assert batcher.pending() == [5, 3]
    gate.set()
    for thread in threads:
        thread.join(WAIT)
    return calls, np.concatenate([results[i] for i in (0, 1, 2, 4, 6)])


def test_merged_calls_on_the_xla_signature_answer_like_the_model(exported):
    """Merged batches of 5 and 3 run padded to the XLA buckets 8 and 4 and split back exactly."""
    version_dir = os.path.join(exported.serving_dir, MODEL, "1")
    signature = servables.load(version_dir, echo=print).signatures["serving_default"]
    windows = msft_windows(9)
    for bucket, batch in ((8, 5), (4, 3)):
        signature.predict.compile(bucket, {"window": windows[:batch]})
    assert signature.predict.state == {1: "xla", 4: "xla", 8: "xla"}
    calls, got = merged_windows(signature, windows)
    assert calls == [1, 5, 3]
    np.testing.assert_allclose(got, python_forecast(version_dir, windows), rtol=1e-5)


def test_merged_calls_on_a_litert_signature_answer_like_the_model(tmp_path):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    window = keras.Input((30, 2), name="window")
    hidden = keras.layers.Dense(4, activation="tanh")(
        keras.layers.Flatten()(keras.layers.Rescaling([0.01, 1e-8])(window)))
    model = keras.Model(window, keras.layers.Dense(1)(hidden))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.tflite").write_bytes(converter.convert())
    servable = servables.load(str(tmp_path / "1"))
    assert servable.kind == "LiteRT"
    windows = msft_windows(9)
    calls, got = merged_windows(servable.signatures["serving_default"], windows)
    assert calls == [1, 5, 3]
    np.testing.assert_allclose(got, model.predict(windows, verbose=0), rtol=1e-5, atol=1e-5)


def test_batching_through_the_server_answers_every_client_right(exported):
    windows = msft_windows(8)
    expected = python_forecast(os.path.join(exported.serving_dir, MODEL, "1"), windows)
    failures = []

    def client(i):
        for j in range(12):
            k = (i + j) % 6
            status, answer = call(url, "POST", f"/v1/models/{MODEL}:predict",
                                  {"instances": windows[k:k + 1 + j % 3].tolist()})
            if status != 200 or not np.allclose(answer["predictions"], expected[k:k + 1 + j % 3],
                                                rtol=1e-5):
                failures.append((status, answer))

    with serving_thread(exported.serving_dir, batching=BatchOptions(8, 2.0)) as (url, _):
        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 2)
    assert failures == [] and not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("options", [dict(max_batch=0), dict(timeout_ms=-1), dict(threads=0)])
def test_options_are_checked(options):
    with pytest.raises(ValueError, match="--batch"):
        BatchOptions(**options)
