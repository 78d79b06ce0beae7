"""XLA-compiled execution of a SavedModel signature, by batch-size bucket.

XLA fuses a recurrent model's per-step ops (for the example LSTM about a quarter of the plain
graph's CPU time per request) but compiles once per input shape. So batches are padded up to the
next power of two (with copies of their last example, dropped from the answer) and at most one
shape per power of two is compiled. A bucket compiles in a background thread the first time a
batch of its size arrives; until then, and for good if it fails to compile or answers differently
from the graph, requests of that size run on the plain graph.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

RTOL, ATOL = 1e-4, 1e-5     # how close XLA's answer must be to the graph's to be used


def batch_major(inputs: dict, outputs: dict) -> bool:
    """Whether every input and output has a free leading (batch) dimension, so padding is safe."""
    return all(info.shape and info.shape[0] == -1 for info in (*inputs.values(), *outputs.values()))


class XlaBuckets:
    """``predict(inputs) -> outputs`` like the graph's, XLA-compiled per power-of-two batch size."""

    def __init__(self, function, inputs: dict, graph_predict: Callable[[dict], dict], where: str,
                 echo: Callable[[str], None]):
        import tensorflow as tf

        specs = {name: tf.TensorSpec([None, *info.shape[1:]], tf.as_dtype(info.dtype))
                 for name, info in inputs.items()}
        # One concrete function (unknown batch size): calls skip tf.function's dispatch, and XLA
        # keeps one compiled executable per input shape behind it.
        self._xla = tf.function(lambda feed: function(**feed), input_signature=[specs],
                                jit_compile=True).get_concrete_function()
        self._graph, self._where, self._echo = graph_predict, where, echo
        self.state: dict = {}        # bucket -> "compiling" | "xla" | "graph"
        self._lock = threading.Lock()

    def __call__(self, inputs: dict) -> dict:
        batch = len(next(iter(inputs.values())))
        bucket = 1 << (batch - 1).bit_length()
        state = self.state.get(bucket)
        if state == "xla":
            return self._run(inputs, batch, bucket)
        if state is None:
            with self._lock:
                if bucket not in self.state:
                    self.state[bucket] = "compiling"
                    threading.Thread(target=self.compile, args=(bucket, inputs), daemon=True,
                                     name=f"seqline-xla-{bucket}").start()
        return self._graph(inputs)

    def compile(self, bucket: int, inputs: dict) -> None:
        """Compile ``bucket`` on ``inputs`` (padded) and use it if it answers like the graph."""
        batch = len(next(iter(inputs.values())))
        try:
            got = self._run(inputs, batch, bucket)
            want = self._graph(inputs)
            same = all(np.allclose(got[k], want[k], rtol=RTOL, atol=ATOL, equal_nan=True)
                       for k in want)
        except Exception as exc:   # an op XLA cannot compile: this size stays on the graph
            self.state[bucket] = "graph"
            self._echo(f"{self._where}: no XLA for batch size {bucket} "
                       f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); using the graph")
            return
        self.state[bucket] = "xla" if same else "graph"
        if not same:
            self._echo(f"{self._where}: XLA answers differ from the graph's at batch size {bucket}; "
                       "using the graph")

    def _run(self, inputs: dict, batch: int, bucket: int) -> dict:
        if bucket != batch:
            inputs = {k: np.concatenate([v, np.repeat(v[-1:], bucket - batch, axis=0)])
                      for k, v in inputs.items()}
        return {k: v.numpy()[:batch] for k, v in self._xla(inputs).items()}
