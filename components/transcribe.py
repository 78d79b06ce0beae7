"""``seqline transcribe``: run an exported speech model on audio files.

MODEL is a version folder (``output/serving/spoken_digits/3``) or the model's folder, whose newest
version is used. A folder among the files stands for the audio files in it and its subfolders
(in name order). Each file is decoded and resampled to the rate the model was trained at, so 8 kHz
telephone clips go in as they are.
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


def audio_files(paths: list) -> list:
    """``paths`` with each folder replaced by the WAV, FLAC and OGG files under it, sorted."""
    from seqline.components.tasks.speech.audio_io import FORMATS

    out = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        found = sorted(os.path.join(base, name) for base, _, names in os.walk(path)
                       for name in names if os.path.splitext(name)[1].lower() in FORMATS)
        if not found:
            kinds = ", ".join(f[1:] for f in FORMATS)
            raise SeqlineError(f"{path}: no {kinds} files in this folder")
        out.extend(found)
    return out


def transcribe(model: str, files: list) -> list:
    """``[(file, transcript)]`` for each audio file (or the audio files of each folder in
    ``files``, see :func:`audio_files`), with the exported model at ``model``."""
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
    for file in audio_files(files):
        try:
            samples = load_clip(file, rate)
        except AudioError as exc:
            raise SeqlineError(f"{file}: {exc}") from None
        out.append((file, serve(waveform=tf.constant(samples))["transcript"].numpy().decode()))
    return out
