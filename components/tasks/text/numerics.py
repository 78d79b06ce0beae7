"""Pure functions of the character language model: vocabulary, encoding, sequences, bits.

Id 0 is the out-of-vocabulary (OOV) id; the characters of the vocabulary take ids 1..V-1, most
frequent first. ``text_graph`` holds the same encoding as a TF graph for the exported model.
"""
from __future__ import annotations

import math

import numpy as np

OOV_ID = 0


def build_vocab(counts: dict, min_count: int = 1, max_vocab: int = 256) -> list:
    """Characters seen at least ``min_count`` times in ``counts`` (``{char: count}``), most
    frequent first (ties by code point), at most ``max_vocab - 1`` of them (id 0 is OOV).

    Example:
        >>> build_vocab({"a": 5, "b": 1, "c": 5}, min_count=2)
        ['a', 'c']
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_vocab < 2:
        raise ValueError(f"max_vocab must be >= 2, got {max_vocab}")
    kept = [c for c, n in counts.items() if n >= min_count]
    return sorted(kept, key=lambda c: (-counts[c], ord(c)))[:max_vocab - 1]


def char_index(vocab: list) -> dict:
    """``{char: id}`` for a vocabulary from :func:`build_vocab`."""
    return {c: i + 1 for i, c in enumerate(vocab)}


def encode(text: str, index: dict) -> np.ndarray:
    """Character ids (int32) of ``text``; characters outside the vocabulary become ``OOV_ID``."""
    return np.fromiter((index.get(c, OOV_ID) for c in text), dtype=np.int32, count=len(text))


def sequence_starts(length: int, seq_len: int, stride: int) -> range:
    """Start offsets of the ``seq_len + 1``-character windows cut from a text of ``length``
    characters every ``stride`` characters (input: the first ``seq_len``, target: the last)."""
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len and stride must be >= 1, got {seq_len}, {stride}")
    return range(0, max(0, length - seq_len), stride)


def unigram_probabilities(id_counts: np.ndarray) -> np.ndarray:
    """Add-one smoothed character frequencies: the unigram baseline's next-character model."""
    counts = np.asarray(id_counts, dtype=np.float64) + 1.0
    return counts / counts.sum()


def bits(probabilities: np.ndarray) -> np.ndarray:
    """``-log2 p`` per prediction (probabilities floored at 1e-12 so one miss stays finite)."""
    return -np.log2(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-12))


def true_class_probability(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The probability each prediction ``[..., V]`` gives its target id ``[...]``."""
    return np.take_along_axis(predictions, np.asarray(targets)[..., None].astype(np.int64), axis=-1)[..., 0]


def bits_per_char(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Mean bits per character of next-character ``predictions`` ``[N, T, V]`` for ``targets``
    ``[N, T]``: the cross-entropy in base 2 (``log2(perplexity)``)."""
    return float(bits(true_class_probability(predictions, targets)).mean())


def split_of_offset(offset: int, total: int, fractions: dict) -> str:
    """The split of a line starting at byte ``offset`` of a ``total``-byte corpus: contiguous
    train, eval and test blocks in that order, sized by ``fractions``."""
    train_end = math.floor(total * fractions["train"])
    eval_end = math.floor(total * (fractions["train"] + fractions["eval"]))
    return "train" if offset < train_end else ("eval" if offset < eval_end else "test")
