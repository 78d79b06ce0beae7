"""The classification tasks' transform in NumPy (the Beam path); ``sequence_graph`` is the same
math in TF.

A raw sequence ``[steps, F]`` plus its length becomes model input ``[steps, F + 1]``: steps at
or after the length are padding; inside the length missing values are filled forward then
backward, every feature is scaled with train-split statistics, and anything still missing
becomes 0. Padding becomes all zeros and the extra last feature is 1 on valid steps, 0 on
padding, so the model's ``Masking(0.0)`` layer finds exactly the padded steps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seqline.components.tasks.missing_values import fill_missing


@dataclass
class SequenceParams:
    """Everything the transform needs, saved as JSON next to the transform graph."""

    feature_columns: list
    center: list               # per feature, subtracted
    scale: list                # per feature, divided after centering
    classes: list              # label vocabulary of the train split; index = class id
    class_counts: list         # train sequences (classify) or steps (label) per class
    class_weights: list        # loss weight per class
    steps: int                 # model input length: max_length (classify) or window (label)
    stride: int                # label: steps between window starts; classify: steps

    @property
    def n_features(self) -> int:
        return len(self.feature_columns)

    def to_dict(self) -> dict:
        return asdict(self)


def pad(values: np.ndarray, steps: int) -> tuple:
    """``values [n, F]`` cut or NaN-padded to ``[steps, F]``, and its length ``min(n, steps)``."""
    values = np.asarray(values, np.float64)
    out = np.full((steps, values.shape[1]), np.nan)
    length = min(len(values), steps)
    out[:length] = values[:length]
    return out, length


def model_input(raw: np.ndarray, lengths: np.ndarray, p: SequenceParams) -> np.ndarray:
    """Raw padded sequences ``[B, S, F]`` and lengths ``[B]`` -> model input ``[B, S, F + 1]``."""
    raw = np.asarray(raw, np.float64)
    valid = np.arange(raw.shape[1])[None, :] < np.asarray(lengths)[:, None]
    filled = fill_missing(np.where(valid[:, :, None], raw, np.nan))
    z = np.nan_to_num((filled - np.asarray(p.center)) / np.asarray(p.scale),
                      nan=0.0, posinf=0.0, neginf=0.0)
    z = np.where(valid[:, :, None], z, 0.0)
    return np.concatenate([z, valid[:, :, None]], axis=-1).astype(np.float32)


def window_starts(n: int, stride: int) -> range:
    """Start of every window over ``n`` steps: ``0, stride, ...`` below ``n`` (the frames of
    ``tf.signal.frame(..., pad_end=True)``, so the last windows run past the end, padded)."""
    return range(0, n, stride)


def cut_windows(values: np.ndarray, steps: int, stride: int) -> tuple:
    """``values [n, F]`` -> windows ``[k, steps, F]`` (NaN-padded), lengths ``[k]``, starts."""
    starts = list(window_starts(len(values), stride))
    cut = [pad(values[s:s + steps], steps) for s in starts]
    return np.stack([w for w, _ in cut]), np.array([n for _, n in cut]), np.array(starts)


def stitch(probabilities: np.ndarray, starts, lengths, n: int) -> np.ndarray:
    """Per-step probabilities ``[n, C]``: the mean over every window that covers a step."""
    total = np.zeros((n, probabilities.shape[-1]))
    count = np.zeros(n)
    for probs, start, length in zip(probabilities, starts, lengths):
        total[start:start + length] += probs[:length]
        count[start:start + length] += 1
    if (count == 0).any():
        raise ValueError(f"stitch: steps {np.flatnonzero(count == 0)[:5].tolist()} are in no "
                         "window")
    return total / count[:, None]


def class_ids(labels, classes: list) -> np.ndarray:
    """Label strings -> class ids; -1 for a label not in ``classes`` (never seen in train)."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(label, -1) for label in labels], np.int64)


def class_weights(counts: list, mode: str) -> list:
    """``balanced``: ``n / (classes * count)`` per class (sklearn's rule); ``none``: all 1."""
    counts = np.asarray(counts, np.float64)
    if mode == "none":
        return [1.0] * len(counts)
    return (counts.sum() / (len(counts) * np.maximum(counts, 1))).tolist()
