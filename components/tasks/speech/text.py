"""Transcripts as CTC labels, and character/word error rates.

Label 0 is the CTC blank; character ``i`` of the vocabulary is label ``i + 1`` (the transform
graph's ``detokenize`` maps labels back to text).

Example:
    >>> vocab = ["e", "n", "o", " "]
    >>> encode_labels("one", vocab)
    [3, 2, 1]
    >>> error_rates(["four one"], ["for one"])
    {'cer': 0.125, 'wer': 0.5, 'char_errors': 1, 'chars': 8, 'word_errors': 1, 'words': 2}
"""
from __future__ import annotations

import numpy as np


def encode_labels(text: str, vocabulary) -> list:
    """Label ids of ``text``; characters outside the vocabulary are left out."""
    index = {c: i + 1 for i, c in enumerate(vocabulary)}
    return [index[c] for c in text if c in index]


def ctc_steps(labels) -> int:
    """The fewest output frames CTC needs for ``labels``: one per label plus a blank between
    repeated labels."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def edit_distance(ref, hyp) -> int:
    """Levenshtein distance between two sequences (characters or words), by rapidfuzz."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(ref, hyp))


def utterance_errors(ref: str, hyp: str) -> tuple:
    """``(character edits, reference characters, word edits, reference words)``."""
    return edit_distance(ref, hyp), len(ref), edit_distance(ref.split(), hyp.split()), len(ref.split())


def error_rates(refs, hyps) -> dict:
    """Corpus CER and WER: total edits over total reference characters (words)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    totals = np.zeros(4, dtype=np.int64)
    for ref, hyp in zip(refs, hyps):
        totals += utterance_errors(ref, hyp)
    ce, nc, we, nw = (int(t) for t in totals)
    return {"cer": ce / max(nc, 1), "wer": we / max(nw, 1),
            "char_errors": ce, "chars": nc, "word_errors": we, "words": nw}
