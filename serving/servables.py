"""One loaded model version: a SavedModel (run by TensorFlow) or a ``model.tflite`` (run by LiteRT).

Both kinds look the same to the server: named signatures, each with typed input and output
tensors and a ``predict(dict of arrays) -> dict of arrays`` that may be called from many threads.
A version folder holds ``saved_model.pb`` (plus ``assets.extra/seqline.json`` when the Pusher
wrote it) or ``model.tflite`` (plus ``metadata.json`` from the compression stage).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from seqline.serving.xla import XlaBuckets, batch_major

SAVED_MODEL_FILE = "saved_model.pb"
TFLITE_FILE = "model.tflite"
METADATA_FILES = (os.path.join("assets.extra", "seqline.json"), "metadata.json")

# NumPy dtype <-> TensorFlow DataType names, as TensorFlow Serving's metadata shows them.
DT_NAMES = {np.dtype(k): v for k, v in {
    "float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int8": "DT_INT8",
    "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8",
    "uint16": "DT_UINT16", "bool": "DT_BOOL"}.items()}


@dataclass(frozen=True)
class TensorInfo:
    """A signature tensor: NumPy dtype, shape (``-1`` = any size; ``None`` = any rank), graph name."""

    dtype: np.dtype
    shape: tuple | None
    name: str

    def describe(self) -> dict:
        """The TensorFlow Serving ``TensorInfo`` JSON of this tensor."""
        dims = [{"size": str(d), "name": ""} for d in (self.shape or ())]
        return {"dtype": DT_NAMES[self.dtype], "name": self.name,
                "tensor_shape": {"dim": dims, "unknown_rank": self.shape is None}}


@dataclass(frozen=True, eq=False)     # compared and hashed by identity: a key of its batcher
class Signature:
    inputs: dict
    outputs: dict
    predict: Callable[[dict], dict]

    def describe(self) -> dict:
        """The TensorFlow Serving ``SignatureDef`` JSON of this signature."""
        return {"inputs": {k: v.describe() for k, v in self.inputs.items()},
                "outputs": {k: v.describe() for k, v in self.outputs.items()},
                "method_name": "tensorflow/serving/predict"}


@dataclass(frozen=True)
class Servable:
    """A loaded version; ``handle`` keeps the runtime object (and so its signatures) alive."""

    kind: str
    signatures: dict
    metadata: dict
    handle: object


def model_kind(path: str) -> str | None:
    """``"SavedModel"``, ``"LiteRT"`` or ``None`` for a folder that holds no model."""
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return "SavedModel"
    if os.path.isfile(os.path.join(path, TFLITE_FILE)):
        return "LiteRT"
    return None


def load(path: str, xla: bool = True, echo: Callable[[str], None] = print) -> Servable:
    """Load the model in version folder ``path`` and run each signature once (warm-up).

    SavedModel signatures run XLA-compiled (``seqline.serving.xla``) unless ``xla`` is false;
    ``echo`` reports batch sizes that fall back to the plain graph. Raises an exception naming the
    folder and the problem when the model cannot be served.
    """
    kind = model_kind(path)
    if kind is None:
        raise ValueError(f"{path}: neither {SAVED_MODEL_FILE} nor {TFLITE_FILE}")
    if kind == "SavedModel":
        handle, signatures = _load_saved_model(path, xla, echo)
    else:
        handle, signatures = _load_tflite(path)
    if not signatures:
        raise ValueError(f"{path}: the model has no signatures to serve")
    for key, signature in signatures.items():
        for name, info in {**signature.inputs, **signature.outputs}.items():
            if info.dtype not in DT_NAMES:
                raise ValueError(f"{path}: signature {key!r} tensor {name!r} has dtype "
                                 f"{info.dtype}; only numeric and bool tensors are served")
        if isinstance(signature.predict, XlaBuckets):
            signature.predict.compile(1, _warm_up_inputs(signature))
        else:
            signature.predict(_warm_up_inputs(signature))
    return Servable(kind, signatures, _read_metadata(path), handle)


def _warm_up_inputs(signature: Signature) -> dict:
    """Ones (benign for logs and divisions) of batch 1, any other free dimension 1, per input."""
    return {name: np.ones([1 if d < 0 else d for d in (info.shape or (1,))], info.dtype)
            for name, info in signature.inputs.items()}


def _read_metadata(path: str) -> dict:
    for name in METADATA_FILES:
        file = os.path.join(path, name)
        if os.path.isfile(file):
            try:
                with open(file, encoding="utf-8") as fh:
                    return json.load(fh)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{file}: unreadable metadata ({exc})") from exc
    return {}


def _load_saved_model(path: str, xla: bool, echo):
    """Signatures of the ``serve`` MetaGraph, typed from ``saved_model.pb`` as TF Serving reads it."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, SAVED_MODEL_FILE), "rb") as fh:
        proto.ParseFromString(fh.read())
    graphs = [g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags]
    if not graphs:
        raise ValueError(f"{path}: no MetaGraph tagged 'serve'")
    loaded = tf.saved_model.load(path, tags=["serve"])
    signatures = {}
    for key, sig in graphs[0].signature_def.items():
        if key not in loaded.signatures:
            continue   # e.g. TF1 "__saved_model_init_op": not a callable signature
        inputs, outputs = _tf_tensors(sig.inputs), _tf_tensors(sig.outputs)
        predict = _tf_predict(loaded.signatures[key])
        if xla and batch_major(inputs, outputs):
            predict = XlaBuckets(loaded.signatures[key], inputs, predict, f"{path} {key}", echo)
        signatures[key] = Signature(inputs, outputs, predict)
    return loaded, signatures


def _tf_tensors(infos) -> dict:
    import tensorflow as tf

    out = {}
    for name, info in infos.items():
        shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
        out[name] = TensorInfo(np.dtype(tf.dtypes.as_dtype(info.dtype).as_numpy_dtype), shape, info.name)
    return out


def _tf_predict(function) -> Callable[[dict], dict]:
    """Call a signature's concrete function: traced once at export, never retraced here."""
    def predict(inputs: dict) -> dict:
        return {name: value.numpy() for name, value in function(**inputs).items()}
    return predict


def _load_tflite(path: str):
    """Signatures of a LiteRT model; one interpreter per version, calls serialized by a lock.
    A model with a batch-1 signature (the Compressor's edge models: a fused LSTM's state is sized
    for one row) is served at any batch size, one row per invocation."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.path.join(path, TFLITE_FILE))
    interpreter.allocate_tensors()   # reset_all_variables needs the tensors allocated
    lock = threading.Lock()
    signatures = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        inputs = _lite_tensors(runner.get_input_details())
        outputs = _lite_tensors(runner.get_output_details())
        one_row = all(info.shape[:1] == (1,) for info in inputs.values())
        if one_row:
            inputs, outputs = _any_batch(inputs), _any_batch(outputs)
        signatures[key] = Signature(inputs, outputs, _lite_predict(interpreter, runner, lock, one_row))
    return interpreter, signatures


def _lite_tensors(details: dict) -> dict:
    return {name: TensorInfo(np.dtype(d["dtype"]), tuple(int(s) for s in d["shape_signature"]),
                             d["name"]) for name, d in details.items()}


def _any_batch(tensors: dict) -> dict:
    return {name: TensorInfo(t.dtype, (-1,) + t.shape[1:], t.name) for name, t in tensors.items()}


def _lite_predict(interpreter, runner, lock, one_row: bool) -> Callable[[dict], dict]:
    def call(inputs: dict) -> dict:
        interpreter.reset_all_variables()   # each call is a new sequence: no LSTM state carried
        return {name: np.array(value) for name, value in runner(**inputs).items()}

    def predict(inputs: dict) -> dict:
        with lock:   # an interpreter runs one call at a time; outputs are copied out under the lock
            if not one_row:
                return call(inputs)
            rows = len(next(iter(inputs.values())))
            results = [call({k: v[i:i + 1] for k, v in inputs.items()}) for i in range(rows)]
            return {k: np.concatenate([r[k] for r in results]) for k in results[0]}
    return predict

