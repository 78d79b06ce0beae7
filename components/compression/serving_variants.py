"""The Keras-side variants exported as SavedModels: float16, Keras int8 and float8 quantization.

Each is a Keras 3 model saved as ``.keras``, so the task's own ``export`` hook wraps it in the
same serving signature as the float model (raw input in, the task's output out).
"""
from __future__ import annotations

SERVING_MODES = ("float32", "float16", "int8", "float8")
FP8_COMPUTE_CAPABILITY = (8, 9)


def fp8_unavailable() -> str | None:
    """Why float8 cannot run here, or ``None`` when TensorFlow sees a GPU with FP8 support."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= FP8_COMPUTE_CAPABILITY:
            return None
    return ("needs a GPU with FP8 support (compute capability >= 8.9); on other hardware Keras "
            "only emulates float8 and keeps float32 weights")


def _float16(model):
    import keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] != "InputLayer":
            layer["config"].pop("dtype", None)   # sub-layers of custom layers follow the global policy
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float16")
    try:
        half = keras.Model.from_config(config)
    finally:
        keras.config.set_dtype_policy(previous)
    half.set_weights(model.get_weights())
    return half


def build(model_path: str, mode: str) -> tuple:
    """``(Keras 3 model, note)`` of variant ``mode`` of the model saved at ``model_path``."""
    from seqline.models import load_model

    if mode not in SERVING_MODES:
        raise ValueError(f"mode must be one of {', '.join(SERVING_MODES)}, got {mode!r}")
    model = load_model(model_path)
    if mode == "float32":
        return model, ""
    if mode == "float16":
        return _float16(model), ""
    total = sum(int(w.numpy().size) for w in model.weights)
    model.quantize(mode)
    if mode == "int8":
        quantized = sum(int(w.numpy().size) for w in model.weights if w.dtype == "int8")
        return model, (f"{quantized} of {total} weights int8 (Keras quantizes Dense, EinsumDense "
                       "and Embedding kernels, not recurrent ones)")
    return model, ""
