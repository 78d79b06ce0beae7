"""Server-side request batching: concurrent predict requests merged into one model call.

As TensorFlow Serving's ``--enable_batching``: requests for the same version and signature (and
the same non-batch input shapes) join one batch until it holds ``max_batch`` examples or its first
request has waited ``timeout_ms``; at most ``threads`` merged calls run at once per signature, and
a batch that is ready waits for a free one. A request of ``max_batch`` examples or more runs at
once, alone. The inputs are concatenated along the batch dimension,
the outputs split back per request. If a merged call fails, each of its requests is run alone, so
every request gets its own answer or its own error. No thread is started: the first request of a
batch runs it (and the others wait for their share).
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np

from seqline.serving.xla import batch_major


@dataclass(frozen=True)
class BatchOptions:
    """``max_batch``: examples per merged call; ``timeout_ms``: longest wait for more requests;
    ``threads``: merged calls running at once per signature."""

    max_batch: int = 32
    timeout_ms: float = 0.0
    threads: int = 1

    def __post_init__(self):
        if self.max_batch < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.max_batch}")
        if not 0 <= self.timeout_ms <= 60_000:
            raise ValueError(f"--batch-timeout-ms must be between 0 and 60000, got {self.timeout_ms}")
        if self.threads < 1:
            raise ValueError(f"--batch-threads must be >= 1, got {self.threads}")


class _Batch:
    """Requests merged into one call; ``results[i]`` is request i's outputs or its exception."""

    def __init__(self, deadline: float):
        self.deadline, self.requests, self.rows = deadline, [], 0
        self.full = False
        self.results: list = []
        self.done = threading.Event()


class Batcher:
    """``predict(inputs) -> outputs`` like the wrapped one, merging concurrent calls.

    ``observe(rows, seconds)`` is called once per model call (merged or alone).
    """

    def __init__(self, predict: Callable[[dict], dict], options: BatchOptions,
                 observe: Callable[[int, float], None] = lambda rows, seconds: None):
        self._predict, self._options, self._observe = predict, options, observe
        self._cond = threading.Condition()
        self._open: dict = {}       # input shapes -> the batch still taking requests
        self._waiting: list = []    # batches not yet running, oldest first
        self._running = 0

    def __call__(self, inputs: dict) -> dict:
        rows = batch_rows(inputs)
        if rows >= self._options.max_batch:
            return self._call(inputs)     # a full batch on its own: nothing to wait for
        key = tuple((name, value.shape[1:], value.dtype.str) for name, value in sorted(inputs.items()))
        with self._cond:
            batch = self._open.get(key)
            if batch is not None and batch.rows + rows > self._options.max_batch:
                self._close(key)      # it cannot take this request: it runs as it is
                batch = None
            leader = batch is None
            if leader:
                batch = self._open[key] = _Batch(time.monotonic() + self._options.timeout_ms / 1000)
                self._waiting.append(batch)
            index = len(batch.requests)
            batch.requests.append(inputs)
            batch.rows += rows
            if batch.rows >= self._options.max_batch:
                self._close(key)
            if leader:
                self._wait_for_turn(batch, key)
        if not leader:
            batch.done.wait()
        else:
            try:
                batch.results = self._run(batch.requests)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
                batch.done.set()
        result = batch.results[index]
        if isinstance(result, BaseException):
            raise result
        return result

    def pending(self) -> list:
        """Examples in each batch not yet running, oldest first (for tests and debugging)."""
        with self._cond:
            return [batch.rows for batch in self._waiting]

    def _close(self, key: tuple) -> None:
        self._open.pop(key).full = True
        self._cond.notify_all()

    def _wait_for_turn(self, batch: _Batch, key: tuple) -> None:
        """Until ``batch`` is the oldest waiting, a call slot is free, and it is full or timed out."""
        while True:
            now = time.monotonic()
            ready = batch.full or now >= batch.deadline
            if ready and self._waiting[0] is batch and self._running < self._options.threads:
                break
            self._cond.wait(None if ready else batch.deadline - now)
        if self._open.get(key) is batch:
            del self._open[key]
        self._waiting.pop(0)
        self._running += 1
        self._cond.notify_all()     # the next oldest batch may now be first in line

    def _run(self, requests: list) -> list:
        return run_requests(self._predict, self._observe, requests)

    def _call(self, inputs: dict) -> dict:
        return timed_call(self._predict, self._observe, inputs)


class ModelCalls:
    """Runs the model call of each predict request, alone or through its signature's ``Batcher``.

    ``observer(model, version)`` gives the ``observe(rows, seconds)`` of that version's calls.
    Batchers live as long as their signature (a version unloaded takes its batchers with it).
    Signatures without a free batch dimension on every tensor are always called alone.
    """

    def __init__(self, options: BatchOptions | None,
                 observer: Callable[[str, int], Callable[[int, float], None]]):
        self._options, self._observer = options, observer
        self._batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def predict(self, model: str, version: int, signature, inputs: dict) -> dict:
        if self._options is None or not batch_major(signature.inputs, signature.outputs):
            return timed_call(signature.predict, self._observer(model, version), inputs)
        batcher = self._batchers.get(signature)
        if batcher is None:
            with self._lock:
                batcher = self._batchers.get(signature)
                if batcher is None:
                    batcher = self._batchers[signature] = Batcher(
                        signature.predict, self._options, self._observer(model, version))
        return batcher(inputs)


def run_requests(predict: Callable[[dict], dict], observe: Callable[[int, float], None],
                 requests: list) -> list:
    """Outputs (or the exception) per request: one merged call, or each alone if it fails."""
    if len(requests) > 1:
        try:
            merged = {name: np.concatenate([r[name] for r in requests]) for name in requests[0]}
            return _split(timed_call(predict, observe, merged), [batch_rows(r) for r in requests])
        except Exception:   # a failure is each request's own: find out whose
            pass
    results = []
    for inputs in requests:
        try:
            results.append(timed_call(predict, observe, inputs))
        except Exception as exc:
            results.append(exc)
    return results


def timed_call(predict: Callable[[dict], dict], observe: Callable[[int, float], None],
               inputs: dict) -> dict:
    """``predict(inputs)``, observed as ``observe(rows, seconds)`` if it answers."""
    start = time.perf_counter()
    outputs = predict(inputs)
    observe(batch_rows(inputs), time.perf_counter() - start)
    return outputs


def batch_rows(inputs: dict) -> int:
    """Examples in a request: the length of its first input."""
    return len(next(iter(inputs.values())))


def _split(outputs: dict, sizes: list) -> list:
    """Per-request outputs of a merged call: consecutive slices of ``sizes`` rows."""
    total = sum(sizes)
    for name, value in outputs.items():
        if np.ndim(value) == 0 or len(value) != total:
            raise ValueError(f"output {name!r} has {np.shape(value)} for a batch of {total}")
    ends = np.cumsum(sizes)
    return [{name: value[end - size:end] for name, value in outputs.items()}
            for size, end in zip(sizes, ends)]
