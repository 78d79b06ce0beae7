"""Model calls for the event-loop front end: batched on the loop, run in worker threads.

The same rules as ``seqline.serving.batching.Batcher``, without a thread per request: requests
for one signature (and the same non-batch input shapes) join a batch on the loop's thread until it
holds ``max_batch`` examples or its first request has waited ``timeout_ms``; at most ``threads``
merged calls run at once per signature, oldest batch first; a request of ``max_batch`` examples or
more runs at once, alone. With a timeout of 0 a batch takes the requests read in the same pass of
the loop and those that arrive while an earlier call of its signature runs. Calls run in a small
pool of worker threads (the model releases the interpreter lock while it computes, so the loop
reads and parses meanwhile); each request's ``done(outputs or exception)`` runs on the loop.
"""
from __future__ import annotations

import asyncio
import collections
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from seqline.serving.batching import BatchOptions, batch_rows, run_requests
from seqline.serving.xla import batch_major

WORKERS = 4      # worker threads, at least: model calls of different signatures run side by side


class LoopCalls:
    """``submit(model, version, signature, inputs, done)`` from the loop's thread; never blocks.

    ``observer(model, version)`` gives the ``observe(rows, seconds)`` of that version's calls.
    Without batching options, or for signatures without a free batch dimension on every tensor,
    each request is called alone.
    """

    def __init__(self, options: BatchOptions | None,
                 observer: Callable[[str, int], Callable[[int, float], None]],
                 loop: asyncio.AbstractEventLoop):
        self._options, self._observer, self._loop = options, observer, loop
        self._queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._pool = ThreadPoolExecutor(max(WORKERS, options.threads if options else 0),
                                        thread_name_prefix="seqline-model")

    def submit(self, model: str, version: int, signature, inputs: dict,
               done: Callable[[object], None]) -> None:
        if self._options is None or not batch_major(signature.inputs, signature.outputs):
            self.run(signature.predict, self._observer(model, version), [inputs], [done])
            return
        queue = self._queues.get(signature)
        if queue is None:
            queue = self._queues[signature] = _Queue(self, self._loop, signature.predict,
                                                     self._options, self._observer(model, version))
        queue.add(inputs, done)

    def run(self, predict, observe, requests: list, callbacks: list,
            finished: Callable[[], None] = lambda: None) -> None:
        """Run ``requests`` as one merged call in a worker; then, on the loop, each callback
        gets its request's outputs or exception, and ``finished()`` is called."""
        def answer(future) -> None:
            try:
                results = future.result()
            except BaseException as exc:     # not the model's failure: the pool's (shutdown)
                results = [exc] * len(callbacks)
            finished()
            for done, result in zip(callbacks, results):
                done(result)

        future = self._pool.submit(run_requests, predict, observe, requests)
        future.add_done_callback(lambda f: self._on_loop(answer, f))

    def close(self) -> None:
        """Stop taking calls; running ones finish in their threads, unanswered."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _on_loop(self, callback, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:      # the loop is closed: the server has stopped
            pass


class _Batch:
    def __init__(self, key: tuple, deadline: float):
        self.key, self.deadline = key, deadline
        self.requests, self.callbacks, self.rows, self.full = [], [], 0, False


class _Queue:
    """One signature's batches not yet running, oldest first, and its running calls."""

    def __init__(self, calls: LoopCalls, loop, predict, options: BatchOptions, observe):
        self.calls, self.loop, self.predict = calls, loop, predict
        self.options, self.observe = options, observe
        self.open: dict = {}                   # input shapes -> the batch still taking requests
        self.waiting: collections.deque = collections.deque()
        self.running = 0
        self.dispatch_soon = False
        self.timer: asyncio.TimerHandle | None = None

    def add(self, inputs: dict, done) -> None:
        rows = batch_rows(inputs)
        if rows >= self.options.max_batch:      # a full batch on its own: nothing to wait for
            self.calls.run(self.predict, self.observe, [inputs], [done])
            return
        key = tuple((name, value.shape[1:], value.dtype.str) for name, value in sorted(inputs.items()))
        batch = self.open.get(key)
        if batch is not None and batch.rows + rows > self.options.max_batch:
            self.open.pop(key).full = True      # it cannot take this request: it runs as it is
            batch = None
        if batch is None:
            batch = self.open[key] = _Batch(key, self.loop.time() + self.options.timeout_ms / 1000)
            self.waiting.append(batch)
        batch.requests.append(inputs)
        batch.callbacks.append(done)
        batch.rows += rows
        if batch.rows >= self.options.max_batch:
            self.open.pop(key).full = True
        if not self.dispatch_soon:     # after this pass of the loop: its other requests join
            self.dispatch_soon = True
            self.loop.call_soon(self.dispatch)

    def dispatch(self) -> None:
        """Start the oldest batches that are ready, while call slots are free."""
        self.dispatch_soon = False
        while self.waiting and self.running < self.options.threads:
            batch = self.waiting[0]
            if not batch.full and self.loop.time() < batch.deadline:
                if self.timer is None or self.timer.when() > batch.deadline:
                    if self.timer is not None:
                        self.timer.cancel()
                    self.timer = self.loop.call_at(batch.deadline, self._timed_out)
                return
            self.waiting.popleft()
            if self.open.get(batch.key) is batch:
                del self.open[batch.key]
            self.running += 1
            self.calls.run(self.predict, self.observe, batch.requests, batch.callbacks,
                           self._finished)

    def _timed_out(self) -> None:
        self.timer = None
        self.dispatch()

    def _finished(self) -> None:
        self.running -= 1
        self.dispatch()
