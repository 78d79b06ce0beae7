"""LiteRT (``.tflite``) conversion with TFLite builtin ops only, and the op-list check.

Recurrent models convert from their ``tf_keras`` twin with a batch-1 input (an LSTM then becomes
the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` kernel), saved once as a SavedModel by
:func:`save_twin` and converted from there in every mode; other models (Transformers) from the
Keras 3 model, traced with a batch-1 input and frozen. ``SELECT_TF_OPS`` (Flex) is never enabled,
and :func:`op_names` reads the op list back from the flatbuffer so a test can check it.
"""
from __future__ import annotations

import logging

import numpy as np

from seqline.pipeline.logs import stderr_to_debug

LOG = logging.getLogger("seqline.compression")
MODES = ("float32", "dynamic_int8", "float16", "int8")


class ConversionError(ValueError):
    """The model cannot be converted as asked (a non-builtin op, an unsupported graph)."""


def save_twin(twin_model, path: str) -> str:
    """Save a ``tf_keras`` model as a SavedModel at ``path`` (what :func:`convert` takes for it:
    saving once spares one save per conversion)."""
    import tensorflow as tf

    tf.saved_model.save(twin_model, path)
    return path


def _converter(model):
    import tensorflow as tf

    if isinstance(model, str):
        return tf.lite.TFLiteConverter.from_saved_model(model)
    shape = (1,) + tuple(model.inputs[0].shape[1:])
    call = tf.function(lambda x: model(x, training=False),
                       input_signature=[tf.TensorSpec(shape, tf.float32)])
    # Without a trackable object the converter freezes the variables into constants.
    return tf.lite.TFLiteConverter.from_concrete_functions([call.get_concrete_function()])


def convert(model, mode: str, calibration: np.ndarray | None = None) -> bytes:
    """The ``.tflite`` flatbuffer of ``model``: the path of a ``tf_keras`` twin saved by
    :func:`save_twin`, or a Keras 3 model.

    ``mode``: ``float32``; ``dynamic_int8`` (int8 weights of 1024+ elements, float
    activations); ``float16``
    (float16 weights); ``int8`` (full integer with int8 input and output, calibrated on
    ``calibration``, model-space inputs ``[N, ...]`` fed one row at a time).
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    converter = _converter(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "dynamic_int8":
        # TF 2.21's new dynamic-range quantizer leaves the fused LSTM's weights float32; the
        # previous one stores them as int8. Either skips tensors under 1024 elements.
        converter.experimental_new_dynamic_range_quantizer = False
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if calibration is None or not len(calibration):
            raise ValueError("calibration: full-integer conversion needs calibration inputs")
        rows = np.asarray(calibration, np.float32)
        converter.representative_dataset = lambda: ([rows[i:i + 1]] for i in range(len(rows)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with stderr_to_debug(LOG, "TFLite converter"):   # its C++ progress lines
            flatbuffer = converter.convert()
    except Exception as exc:   # the converter raises many types; report its first line
        raise ConversionError(f"{mode} conversion failed: {str(exc).strip().splitlines()[0][:300]}") from exc
    check_builtin_only(op_names(flatbuffer))
    names = None if isinstance(model, str) else ([t.name for t in model.inputs], model.output_names)
    return finish_flatbuffer(flatbuffer, names)


def _serving_signature(graph, names: tuple):
    """A ``serving_default`` signature over ``graph``'s inputs and outputs, named ``names``."""
    from tensorflow.lite.python import schema_py_generated as schema

    signature = schema.SignatureDefT(signatureKey=b"serving_default", subgraphIndex=0)
    signature.inputs = [schema.TensorMapT(name.encode(), int(index))
                        for name, index in zip(names[0], graph.inputs)]
    signature.outputs = [schema.TensorMapT(name.encode(), int(index))
                         for name, index in zip(names[1], graph.outputs)]
    return signature


def finish_flatbuffer(flatbuffer: bytes, names: tuple | None = None) -> bytes:
    """``flatbuffer`` as it ships: a ``serving_default`` signature (the converter writes none for
    a model converted from a function; ``names`` = (input names, output names) gives it one, which
    ``seqline serve`` and signature runners need), and no tensor, subgraph or model names (about
    1 KB of a small LSTM's 9; the signatures keep their input and output names, which is what apps
    call them by)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    if any(buffer.offset for buffer in model.buffers):   # weights stored after the flatbuffer
        return flatbuffer
    if not model.signatureDefs and names is not None:
        model.signatureDefs = [_serving_signature(model.subgraphs[0], names)]
    model.description = None
    for subgraph in model.subgraphs:
        subgraph.name = None
        for tensor in subgraph.tensors:
            tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def op_names(flatbuffer: bytes) -> list:
    """The operators a ``.tflite`` model uses: builtin names (``UNIDIRECTIONAL_SEQUENCE_LSTM``)
    or ``CUSTOM:<code>`` for custom and Flex (``CUSTOM:FlexMatMul``) ops; sorted, unique."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    names = {code: name for name, code in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    found = set()
    for op in model.operatorCodes:
        code = max(op.builtinCode, op.deprecatedBuiltinCode)
        if code == schema.BuiltinOperator.CUSTOM:
            found.add(f"CUSTOM:{(op.customCode or b'').decode()}")
        else:
            found.add(names.get(code, f"BUILTIN_{code}"))
    return sorted(found)


def check_builtin_only(ops: list) -> None:
    """Raise :class:`ConversionError` if ``ops`` holds a Flex or custom op."""
    extra = [op for op in ops if op.startswith("CUSTOM:")]
    if extra:
        raise ConversionError(f"needs ops outside the TFLite builtins: {', '.join(extra)}")


def full_integer_blocker(float_ops: list) -> str | None:
    """Why full-integer conversion must not be tried for a model whose float32 conversion uses
    ``float_ops``, or ``None``. TF 2.21's calibrator crashes the process (SIGSEGV) on ``WHILE``
    loops, which is what GRU and SimpleRNN layers convert to (only LSTM has a fused kernel)."""
    if "WHILE" in float_ops:
        return ("full-integer calibration of a WHILE loop (GRU/SimpleRNN) crashes the TF 2.21 "
                "converter; only LSTM has a fused int8 kernel")
    return None
