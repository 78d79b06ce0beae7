"""What StatisticsGen sees of the records of tasks that write their own record layout.

:mod:`seqline.components.data_stats` reads ``feature/<name>`` values, ``label`` values and
``meta/series_id``. Forecasting records are written that way; the other tasks' records are turned
into such an Example here, one record at a time, so the statistics, the schema and the validation
of every later run cover them too:

* classify / label: ``feature/<column>`` holds the column's value at every step (so its value
  length is the sequence length), ``label`` the labels, ``meta/series_id`` the series;
* asr: per clip ``feature/seconds``, ``feature/rms_dbfs`` (loudness), ``feature/peak`` and
  ``feature/transcript_chars``; the speaker is the series;
* generate: per line ``feature/characters``.
"""
from __future__ import annotations

import numpy as np
from tensorflow.core.example import example_pb2


def _features(data: bytes):
    return example_pb2.Example.FromString(data).features.feature


def sequence_view(data: bytes, feature_columns: list) -> bytes:
    """A classify/label record (see :mod:`seqline.components.tasks.sequence.codec`) for the statistics."""
    f = _features(data)
    values = np.array(f["values"].float_list.value, np.float32).reshape(-1, len(feature_columns))
    out = example_pb2.Example()
    g = out.features.feature
    for i, column in enumerate(feature_columns):
        g[f"feature/{column}"].float_list.value.extend(values[:, i])
    g["label"].bytes_list.value.extend(f["labels"].bytes_list.value)
    g["meta/series_id"].bytes_list.value.extend(f["meta/series_id"].bytes_list.value)
    return out.SerializeToString(deterministic=True)


def audio_view(data: bytes) -> bytes:
    """An asr record (see :mod:`seqline.components.tasks.speech.codec`) for the statistics."""
    from seqline.components.tasks.speech.codec import decode

    clip = decode(data)
    samples = np.asarray(clip.samples, np.float64)
    rms = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
    out = example_pb2.Example()
    g = out.features.feature
    g["feature/seconds"].float_list.value.append(clip.seconds)
    g["feature/rms_dbfs"].float_list.value.append(20 * np.log10(max(rms, 1e-10)))
    g["feature/peak"].float_list.value.append(float(np.abs(samples).max()) if len(samples) else 0.0)
    g["feature/transcript_chars"].int64_list.value.append(len(clip.transcript))
    g["meta/series_id"].bytes_list.value.append(clip.speaker.encode())
    return out.SerializeToString(deterministic=True)


def text_view(data: bytes) -> bytes:
    """A generate record (one line, see :mod:`seqline.components.tasks.text.example_gen`) for the statistics."""
    text = _features(data)["text"].bytes_list.value[0].decode("utf-8")
    out = example_pb2.Example()
    out.features.feature["feature/characters"].int64_list.value.append(len(text))
    return out.SerializeToString(deterministic=True)
