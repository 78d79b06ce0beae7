"""Audio clips in and out: decode WAV/FLAC/OGG to mono float32, resample, write 16-bit WAV.

WAV goes through ``tf.audio.decode_wav`` (16-bit PCM); WAV encodings TensorFlow cannot read
(float, 24-bit, ...) and FLAC/OGG go through ``soundfile``. A file that cannot be used raises
:class:`AudioError` with a one-line reason, which ExampleGen writes to the quarantine.

Example:
    >>> samples, rate = read_audio("clip.flac")
    >>> resample(samples, rate, 16000).dtype
    dtype('float32')
"""
from __future__ import annotations

import io
import os
import re
from math import gcd

import numpy as np

FORMATS = (".wav", ".flac", ".ogg")


class AudioError(ValueError):
    """A clip that cannot be used; the message is the reason (one line)."""


def read_audio(path: str) -> tuple:
    """``(samples float32 [n] in [-1, 1], sample rate)`` of the audio file at ``path``."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise AudioError(f"unsupported format '{ext or 'no extension'}' "
                         f"(supported: {', '.join(f[1:] for f in FORMATS)})")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise AudioError("file not found") from None
    except OSError as exc:
        raise AudioError(f"unreadable: {exc.strerror or exc}") from None
    if not data:
        raise AudioError("empty file (0 bytes)")
    samples, rate = _decode_wav(data) if ext == ".wav" else _decode_soundfile(data, ext)
    if samples.size == 0:
        raise AudioError("no audio samples")
    if not np.isfinite(samples).all():
        raise AudioError("samples are not finite numbers")
    return samples, rate


def _decode_wav(data: bytes) -> tuple:
    import tensorflow as tf

    try:
        audio, rate = tf.audio.decode_wav(data)
        return _mono(audio.numpy()), int(rate)
    except Exception as exc:   # TF raises InvalidArgumentError, and other types on junk headers
        reason = _tf_message(exc)
    import soundfile

    try:
        subtype = soundfile.info(io.BytesIO(data)).subtype
    except Exception:
        raise AudioError(f"corrupt WAV: {reason}") from None
    if subtype == "PCM_16":    # an encoding TF reads, so the file itself is broken (e.g. truncated)
        raise AudioError(f"corrupt WAV: {reason}")
    return _decode_soundfile(data, ".wav")


def _decode_soundfile(data: bytes, ext: str) -> tuple:
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"corrupt {ext[1:].upper()}: {_first_line(exc)}") from None
    return _mono(samples), int(rate)


def _mono(samples: np.ndarray) -> np.ndarray:
    """``[n, channels]`` -> ``[n]`` float32, averaging the channels."""
    return np.asarray(samples, np.float32).mean(axis=1, dtype=np.float32)


def _tf_message(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    text = re.sub(r"\{\{[^}]*\}\}", "", text)
    return _first_line(re.sub(r"\[Op:\w+\]", "", text)).strip() or type(exc).__name__


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz resampled to ``target`` Hz (polyphase, anti-aliased)."""
    if rate <= 0 or target <= 0:
        raise ValueError(f"sample rates must be positive, got {rate} and {target}")
    if rate == target:
        return np.asarray(samples, np.float32)
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def load_clip(path: str, rate: int) -> np.ndarray:
    """The clip at ``path`` as mono float32 at ``rate`` Hz."""
    samples, found = read_audio(path)
    return resample(samples, found, rate)


def to_pcm16(samples: np.ndarray) -> bytes:
    """Little-endian 16-bit PCM bytes of float samples (clipped to [-1, 1])."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    """Inverse of :func:`to_pcm16`."""
    return np.frombuffer(data, "<i2").astype(np.float32) / 32767.0


def write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    """Write mono 16-bit PCM WAV."""
    import soundfile

    soundfile.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
