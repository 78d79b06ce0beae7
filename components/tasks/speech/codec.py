"""tf.train.Example encoding of audio clips (one example per clip, 16-bit PCM)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tensorflow.core.example import example_pb2

from seqline.components.tasks.speech.audio_io import from_pcm16, to_pcm16

CONDITION = "condition/"


@dataclass(frozen=True)
class Clip:
    """One clip: its waveform at ``sample_rate``, transcript, speaker, source, and its values of
    the manifest's condition columns (``(("channel", "telephone"),)``)."""

    samples: np.ndarray
    sample_rate: int
    transcript: str
    speaker: str
    path: str
    file: str = ""
    row: int = 0
    conditions: tuple = ()

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def put_meta(f, clip: Clip) -> None:
    """Write the clip's transcript, speaker, source and conditions (``condition/<column>``) into
    the feature map ``f``."""
    f["transcript"].bytes_list.value.append(clip.transcript.encode())
    f["speaker"].bytes_list.value.append(clip.speaker.encode())
    f["path"].bytes_list.value.append(clip.path.encode())
    f["meta/file"].bytes_list.value.append(clip.file.encode())
    f["meta/row"].int64_list.value.append(clip.row)
    for column, value in clip.conditions:
        f[CONDITION + column].bytes_list.value.append(value.encode())


def encode(clip: Clip) -> bytes:
    """Serialize a clip; the waveform goes under ``audio`` as little-endian 16-bit PCM."""
    ex = example_pb2.Example()
    f = ex.features.feature
    f["audio"].bytes_list.value.append(to_pcm16(clip.samples))
    f["sample_rate"].int64_list.value.append(clip.sample_rate)
    put_meta(f, clip)
    return ex.SerializeToString(deterministic=True)


def decode(data: bytes) -> Clip:
    """Inverse of :func:`encode` (the waveform comes back quantized to 16 bits)."""
    f = example_pb2.Example.FromString(data).features.feature

    def text(key):
        return f[key].bytes_list.value[0].decode()

    return Clip(from_pcm16(f["audio"].bytes_list.value[0]), int(f["sample_rate"].int64_list.value[0]),
                text("transcript"), text("speaker"), text("path"), text("meta/file"),
                int(f["meta/row"].int64_list.value[0]),
                tuple(sorted((k[len(CONDITION):], text(k)) for k in f if k.startswith(CONDITION))))
