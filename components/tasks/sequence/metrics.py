"""Classification metrics on label strings, the majority baseline, and the blessing rules of the
classification tasks (``classify``, ``label``)."""
from __future__ import annotations

import numpy as np


def majority_label(classes: list, counts: list) -> str:
    """The most frequent train label (ties: the first in ``classes`` order)."""
    return classes[int(np.argmax(counts))]


def classification_report(true, pred, classes: list) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``classes`` (the train split's labels) orders the labels; labels in ``true`` or ``pred``
    outside it are appended and reported per class. Macro averages always run over ``classes``,
    so that every forecaster scored on one test split is averaged over the same set (a class
    missing from the test split has F1 0 for all of them); a precision with no prediction of the
    class is 0.
    """
    true, pred = np.asarray(true, dtype=str), np.asarray(pred, dtype=str)
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"true and pred must be non-empty and of one shape, got {true.shape} "
                         f"and {pred.shape}")
    extra = sorted(str(label) for label in (set(true) | set(pred)) - set(classes))
    labels = list(classes) + extra
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(confusion, ([index[t] for t in true], [index[p] for p in pred]), 1)
    hits = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(1), confusion.sum(0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(hits), where=denom > 0)
    known = np.arange(len(labels)) < len(classes)
    per_class = {label: {"precision": float(precision[i]), "recall": float(recall[i]),
                         "f1": float(f1[i]), "support": int(support[i])}
                 for i, label in enumerate(labels)}
    return {"accuracy": float(hits.sum() / true.size), "macro_f1": float(f1[known].mean()),
            "macro_precision": float(precision[known].mean()),
            "macro_recall": float(recall[known].mean()),
            "per_class": per_class, "labels": labels, "confusion": confusion.tolist()}


def report_text(reports: dict) -> str:
    """A plain-text table: per-class precision/recall/F1 of every scored model side by side."""
    names = list(reports)
    labels = reports[names[0]]["labels"]
    width = max(12, *(len(label) + 2 for label in labels))
    head = f"{'class':<{width}}{'support':>8}" + "".join(
        f"{name + ' ' + m:>14}" for name in names for m in ("P", "R", "F1"))
    lines = [head]
    for label in labels:
        row = f"{label:<{width}}{reports[names[0]]['per_class'][label]['support']:>8}"
        for name in names:
            scores = reports[name]["per_class"].get(label, {"precision": 0, "recall": 0, "f1": 0})
            row += "".join(f"{scores[m]:>14.3f}" for m in ("precision", "recall", "f1"))
        lines.append(row)
    for metric in ("accuracy", "macro_f1"):
        lines.append(f"{metric:<{width}}{'':>8}" + "".join(
            f"{'':>28}{reports[name][metric]:>14.3f}" for name in names))
    return "\n".join(lines) + "\n"


def bless(model: dict, baseline: dict, champion: dict | None, rules: dict) -> tuple:
    """Apply the ``evaluation.blessing`` rules; return ``(blessed, reasons)``."""
    reasons, ok = [], True

    def rule(passed: bool, text: str):
        nonlocal ok
        ok &= passed
        reasons.append(text)

    for metric in ("accuracy", "macro_f1"):
        limit = rules[f"min_{metric}"]
        if limit is not None:
            passed = model[metric] >= limit
            rule(passed, f"{metric} {model[metric]:.4f} {'>=' if passed else '<'} min_{metric} "
                         f"{limit}")
    if rules["beat_baseline"]:
        passed = model["macro_f1"] > baseline["macro_f1"]
        rule(passed, f"macro-F1 {model['macro_f1']:.4f} {'>' if passed else '<='} majority "
                     f"baseline {baseline['macro_f1']:.4f}")
    limit = rules["max_regression_vs_champion"]
    if champion is not None and limit is not None:
        bound = champion["macro_f1"] * (1 - limit)
        passed = model["macro_f1"] >= bound
        rule(passed, f"macro-F1 {model['macro_f1']:.4f} {'>=' if passed else '<'} champion "
                     f"{champion['macro_f1']:.4f} x (1 - {limit})")
    if not reasons:
        reasons.append("no blessing rule applies (no threshold, no baseline rule, no champion)")
    return bool(ok), reasons
