"""``seqline transcribe``: run an exported speech model on audio files.

MODEL is a version folder (``output/serving/spoken_digits/3``) or the model's folder, whose newest
version is used. Each file is decoded and resampled to the rate the model was trained at.
"""
from __future__ import annotations

import os

from seqline.pipeline.errors import SeqlineError


def resolve_version(model: str) -> str:
    """The SavedModel folder for ``model``: itself, or its newest numbered version."""
    from seqline.components import serving_export

    if os.path.isfile(os.path.join(model, "saved_model.pb")):
        return model
    found = serving_export.versions(model)
    if not found:
        raise SeqlineError(f"{model}: not an exported model (no saved_model.pb, no version folders)")
    return os.path.join(model, str(found[-1]))


def transcribe(model: str, files: list) -> list:
    """``[(file, transcript)]`` for each audio file, with the exported model at ``model``."""
    import tensorflow as tf

    from seqline.components import serving_export
    from seqline.components.tasks.speech.audio_io import AudioError, load_clip

    path = resolve_version(model)
    try:
        rate = serving_export.read_metadata(path)["inputs"]["waveform"]["sample_rate"]
    except (OSError, KeyError):
        raise SeqlineError(f"{path}: not a speech model (its metadata has no waveform input)") from None
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = []
    for file in files:
        try:
            samples = load_clip(file, rate)
        except AudioError as exc:
            raise SeqlineError(f"{file}: {exc}") from None
        out.append((file, serve(waveform=tf.constant(samples))["transcript"].numpy().decode()))
    return out
