"""``seqline generate``: continue a prompt with an exported character language model.

MODEL is a version folder written by the Pusher (``<serving_dir>/<model_name>/<version>``) or the
model folder above it (its newest version is used). Sampling runs inside the SavedModel's
``serving_default`` signature (see :mod:`seqline.components.tasks.text.export`).
"""
from __future__ import annotations

import os
import random

from seqline.pipeline.errors import ConfigError, SeqlineError


def resolve_model(path: str) -> str:
    """The version folder to load for ``path``; a one-line error if there is none."""
    from seqline.components import serving_export

    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    found = serving_export.versions(path)
    if not found:
        raise SeqlineError(f"MODEL: {path} is neither an exported model version nor a folder of "
                           "versions (expected <serving_dir>/<model_name>[/<version>])")
    return os.path.join(path, str(found[-1]))


def check_arguments(length: int, temperature: float, top_k: int) -> None:
    for name, value, low in (("--length", length, 1), ("--temperature", temperature, 0),
                             ("--top-k", top_k, 0)):
        if value < low:
            raise ConfigError(f"{name}: must be >= {low}, got {value}")


def generate(model: str, prompt: str, length: int = 200, temperature: float = 0.8, top_k: int = 0,
             seed: int | None = None) -> str:
    """``length`` characters that continue ``prompt``, sampled at ``temperature`` (0: always the
    likeliest character) among the ``top_k`` likeliest (0: all); the same ``seed`` gives the
    same text."""
    import tensorflow as tf

    from seqline.components import serving_export

    check_arguments(length, temperature, top_k)
    path = resolve_model(model)
    try:
        task = serving_export.read_metadata(path).get("task")
    except FileNotFoundError:
        task = None
    serve = tf.saved_model.load(path).signatures.get("serving_default")
    if task not in (None, "generate") or serve is None \
            or "prompt" not in serve.structured_input_signature[1]:
        raise SeqlineError(f"MODEL: {path} is a {task or 'non-generate'} model; "
                           "seqline generate needs one exported by a 'task: generate' pipeline")
    seed = random.randrange(2 ** 31) if seed is None else seed
    out = serve(prompt=tf.constant([prompt]), length=tf.constant(length, tf.int32),
                temperature=tf.constant(temperature, tf.float32), top_k=tf.constant(top_k, tf.int32),
                seed=tf.constant(seed, tf.int64))
    return out["text"].numpy()[0].decode("utf-8")
