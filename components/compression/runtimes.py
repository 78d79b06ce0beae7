"""Each variant run by the runtime it ships to: TensorFlow for SavedModels, LiteRT for ``.tflite``.

Both runners offer ``predict`` (a whole split) and ``batch_calls`` (one call on 1 row and one on
64 rows, for the latency measurement).
"""
from __future__ import annotations

import numpy as np


class SavedModelRunner:
    """The ``serving_default`` signature of an exported SavedModel (raw inputs in, the task's
    outputs out), loaded with TensorFlow. A signature without a batch dimension (speech: one
    waveform) is called once per row."""

    def __init__(self, path: str):
        import tensorflow as tf

        self.serve = tf.saved_model.load(path).signatures["serving_default"]
        self.specs = self.serve.structured_input_signature[1]

    def _per_row(self, inputs: dict) -> bool:
        name, spec = next(iter(self.specs.items()))
        return np.ndim(inputs[name][0]) == spec.shape.rank

    def _call(self, inputs: dict, start: int, stop: int) -> dict:
        import tensorflow as tf

        feed = {name: tf.constant(np.asarray(inputs[name][start:stop], spec.dtype.as_numpy_dtype))
                for name, spec in self.specs.items()}
        return self.serve(**feed)

    def _call_row(self, inputs: dict, i: int) -> dict:
        import tensorflow as tf

        return self.serve(**{name: tf.constant(np.asarray(inputs[name][i], spec.dtype.as_numpy_dtype))
                             for name, spec in self.specs.items()})

    def predict(self, inputs: dict, batch_size: int = 1024) -> dict:
        """The signature's outputs for every row of ``inputs`` (``{name: array [N, ...]}``)."""
        rows = len(next(iter(inputs.values())))
        if self._per_row(inputs):
            parts = [self._call_row(inputs, i) for i in range(rows)]
            return {k: np.stack([p[k].numpy() for p in parts]) for k in parts[0]}
        parts = [{k: v.numpy() for k, v in self._call(inputs, i, i + batch_size).items()}
                 for i in range(0, rows, batch_size)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def batch_calls(self, inputs: dict) -> tuple:
        """``(call on 1 row, call on 64 rows)`` of the first rows of ``inputs`` (64 calls of one
        row each for a signature without a batch dimension)."""
        if self._per_row(inputs):
            rows = len(next(iter(inputs.values())))
            return (lambda: self._call_row(inputs, 0)), (
                lambda: [self._call_row(inputs, i % rows) for i in range(64)])
        feed = {name: inputs[name][:64] for name in self.specs}
        if len(next(iter(feed.values()))) < 64:
            feed = {k: np.resize(v, (64,) + v.shape[1:]) for k, v in feed.items()}
        return (lambda: self._call(feed, 0, 1)), (lambda: self._call(feed, 0, 64))


class LiteRTRunner:
    """A ``.tflite`` model in the LiteRT interpreter (``ai-edge-litert``), one thread.

    Inputs and outputs are model-space floats; a full-integer model's int8 input is quantized
    and its output dequantized with the scale and zero point stored in the model. The models have
    a batch-1 signature (the fused LSTM kernel's state is sized for it), so ``predict`` and the
    64-row call invoke the model once per row. A model with a free length (speech: any number of
    frames) is resized to each row, which may then differ in length.
    """

    def __init__(self, path: str, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        scale, zero = self.input["quantization"]
        if self.input["dtype"] == np.float32 or not scale:
            return x.astype(self.input["dtype"])
        info = np.iinfo(self.input["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(self.input["dtype"])

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zero = self.output["quantization"]
        if self.output["dtype"] == np.float32 or not scale:
            return y.astype(np.float32)
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def _invoke(self, row: np.ndarray) -> np.ndarray:
        if row.shape != tuple(self.input["shape"]):   # another length, for a free-length input
            self.interpreter.resize_tensor_input(self.input["index"], row.shape)
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
        self.interpreter.reset_all_variables()   # a fused LSTM's state would carry over otherwise
        self.interpreter.set_tensor(self.input["index"], row)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def _row(self, row) -> np.ndarray:
        return self._quantize(np.asarray(row, np.float32)[None])

    def predict(self, x):
        """Model-space outputs ``[N, ...]`` for model-space inputs ``x`` ``[N, ...]``; for rows of
        different lengths (a list), the list of each row's output."""
        outputs = [self._dequantize(self._invoke(self._row(row))) for row in x]
        if len({o.shape for o in outputs}) == 1:
            return np.concatenate(outputs)
        return [o[0] for o in outputs]

    def batch_calls(self, x) -> tuple:
        """``(call on 1 row, 64 calls on 64 rows)`` of the first rows of ``x``."""
        rows = [self._row(x[i % len(x)]) for i in range(64)]

        def many():
            for row in rows:
                self._invoke(row)

        return (lambda: self._invoke(rows[0])), many

    def tensor_spec(self) -> dict:
        """Shape, dtype and quantization of the input and output (for the edge metadata)."""
        def spec(d):
            scale, zero = d["quantization"]
            out = {"shape": [int(s) for s in d["shape_signature"]], "dtype": np.dtype(d["dtype"]).name}
            if scale:
                out["quantization"] = {"scale": float(scale), "zero_point": int(zero)}
            return out

        return {"input": spec(self.input), "output": spec(self.output)}
