"""The variants the Compressor can build, by name (no heavy imports: the config check uses it).

Each variant belongs to one deployment target: ``gpu`` (a TensorFlow SavedModel with the
serving signature, for TF Serving on a GPU or CPU server) or ``edge`` (a LiteRT ``.tflite`` file
of the network alone, builtin ops only, for phones and microcontrollers).
"""
from __future__ import annotations

TARGETS = ("gpu", "edge")

# name -> (target, weights it starts from, precision, description). Weights: "trained" (the
# Trainer's model), "pruned" (TFMOT magnitude pruning + fine-tune), "clustered" (pruned, then
# weight clustering). Precision: a mode of serving_variants (gpu) or tflite_export (edge).
VARIANTS = {
    "float32": ("gpu", "trained", "float32", "the trained model (float32), the reference"),
    "float16": ("gpu", "trained", "float16", "float16 weights and compute"),
    "int8": ("gpu", "trained", "int8",
             "Keras int8 quantization (model.quantize): Dense/EinsumDense/Embedding kernels"),
    "float8": ("gpu", "trained", "float8",
               "Keras float8 quantization; only on a GPU with FP8 (compute capability >= 8.9)"),
    "tflite_float32": ("edge", "trained", "float32", "float32 LiteRT model"),
    "tflite_dynamic_int8": ("edge", "trained", "dynamic_int8",
                            "dynamic range: int8 weights, float activations"),
    "tflite_float16": ("edge", "trained", "float16", "float16 weights"),
    "tflite_int8": ("edge", "trained", "int8",
                    "full integer: int8 weights, activations, input and output"),
    "tflite_pruned_float32": ("edge", "pruned", "float32", "magnitude-pruned (TFMOT), float32"),
    "tflite_pruned_int8": ("edge", "pruned", "int8", "magnitude-pruned (TFMOT), full integer int8"),
    "tflite_pruned_clustered_int8": ("edge", "clustered", "int8",
                                     "pruned and weight-clustered (TFMOT), full integer int8"),
}

# The float model of each target: exported when no compressed variant meets the budget.
FLOAT_VARIANT = {"gpu": "float32", "edge": "tflite_float32"}


def target_of(name: str) -> str:
    """The target (``gpu`` or ``edge``) of variant ``name``."""
    return VARIANTS[name][0]


def variants_for(targets, names=None) -> list:
    """The variant names to build for ``targets``, in catalog order: ``names`` (all if ``None``),
    always with ``float32`` (the reference every variant is compared with) and, for the edge,
    ``tflite_float32`` (the edge fallback)."""
    wanted = set(VARIANTS if names is None else names) | {"float32"}
    if "edge" in targets:
        wanted.add(FLOAT_VARIANT["edge"])
    return [n for n in VARIANTS if n in wanted and (n == "float32" or target_of(n) in targets)]
