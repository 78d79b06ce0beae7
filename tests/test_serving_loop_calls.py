"""Batching on the event loop (``LoopCalls``): requests submitted in one pass of the loop share
one model call, split back in order; a bad request fails alone; a full-size request runs alone."""
import asyncio

import numpy as np

from seqline.serving.batching import BatchOptions
from seqline.serving.loop_calls import LoopCalls
from seqline.serving.servables import Signature, TensorInfo
from tests.test_serving_batching import WAIT, Model, rows

FLOAT = np.dtype("float32")


def answers(options, requests: dict) -> tuple:
    """Submit ``requests`` in one pass of a new loop; ``(model calls, observed rows, results)``."""
    model, observed, results = Model(), [], {}
    loop = asyncio.new_event_loop()
    signature = Signature({"x": TensorInfo(FLOAT, (-1, 2), "x")},
                          {"y": TensorInfo(FLOAT, (-1, 2), "y")}, model)
    calls = LoopCalls(options, lambda name, version: lambda n, seconds: observed.append(n), loop)
    finished = loop.create_future()

    def done(key, result):
        results[key] = result
        if len(results) == len(requests):
            finished.set_result(None)

    def submit_all():
        for key, x in requests.items():
            calls.submit("m", 1, signature, {"x": x}, lambda result, key=key: done(key, result))

    try:
        loop.call_soon(submit_all)
        loop.run_until_complete(asyncio.wait_for(finished, WAIT))
    finally:
        calls.close()
        loop.close()
    return model.calls, observed, results


def test_one_pass_is_merged_split_back_and_a_bad_request_fails_alone():
    requests = {"a": rows(1), "bad": rows(-1), "c": rows(2, 3), "d": rows(4), "big": rows(5, 6, 7, 8)}
    calls, observed, results = answers(BatchOptions(max_batch=4, timeout_ms=0), requests)
    # a + bad + c fill a batch of 4, which fails and is rerun request by request; d waits for
    # the next batch; big (4 rows, a batch on its own) runs at once beside them
    assert sorted(calls) == sorted([4, 1, 1, 2, 1, 4])
    assert sorted(observed) == sorted([1, 2, 1, 4])        # the calls that answered
    assert isinstance(results.pop("bad"), ValueError)
    for key, x in requests.items():
        if key != "bad":
            np.testing.assert_array_equal(results[key]["y"], x * 2)


def test_without_batching_each_request_is_called_alone():
    requests = {i: rows(i, i + 10) for i in range(5)}
    calls, observed, results = answers(None, requests)
    assert calls == [2] * 5 and observed == [2] * 5
    for key, x in requests.items():
        np.testing.assert_array_equal(results[key]["y"], x * 2)


def test_a_batch_waits_for_its_timeout_then_runs_what_it_holds():
    requests = {i: rows(i) for i in range(3)}
    calls, _, results = answers(BatchOptions(max_batch=8, timeout_ms=50), requests)
    assert calls == [3]
    for key, x in requests.items():
        np.testing.assert_array_equal(results[key]["y"], x * 2)
