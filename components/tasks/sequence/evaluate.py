"""Evaluation of the classification tasks on the test split, next to the majority baseline and
the champion (the newest pushed model, re-scored on the same test data through its serving
signature); the blessing.

classify scores one label per series; label stitches the windows' probabilities back into one
prediction per step (the mean over the windows that cover the step) and scores every step.
Writes ``metrics.json``, ``report.txt``, ``predictions.csv``, ``confusion_matrix.png`` and, for
label, ``labeled_series.png``.
"""
from __future__ import annotations

import csv
import json
import os
import re

import numpy as np

from seqline.components import counted_predict
from seqline.components.split_io import split_pattern
from seqline.components.tasks.sequence import numerics as sm
from seqline.components.tasks.sequence.metrics import (bless, classification_report, majority_label,
                                                       report_text)


def _champion(champion_dir: str, n_features: int, ctx):
    """``(version, serving function)`` of the newest pushed model if it takes this data."""
    from seqline.components import serving_export

    found = serving_export.versions(champion_dir)
    if not found:
        return None, None
    serve = serving_export.load_signature(os.path.join(champion_dir, str(found[-1])))
    inputs = serve.structured_input_signature[1]
    shape = tuple(inputs["series"].shape) if "series" in inputs else None
    if shape is None or "lengths" not in inputs or shape[-1] != n_features:
        ctx.echo(f"champion v{found[-1]} takes other inputs ({sorted(inputs)}): not compared")
        return found[-1], None
    return found[-1], serve


def metric_name(label: str) -> str:
    """A label as part of an MLflow metric name (letters, digits, ``_-./`` and spaces)."""
    return re.sub(r"[^\w\-. /]", "_", label)


def _strings(values) -> np.ndarray:
    return np.char.decode(np.asarray(values).astype(bytes), "utf-8")


def score_series(data: dict, probabilities: np.ndarray, p: sm.SequenceParams, serve) -> dict:
    """classify: true, predicted and champion-predicted label per test series."""
    out = {"ids": data["meta/series_id"], "true": data["labels"][:, 0],
           "pred": np.asarray(p.classes)[probabilities.argmax(-1)], "probabilities": probabilities}
    if serve is not None:
        labels = [serve(series=data["series"][i:i + 256],
                        lengths=data["length"][i:i + 256].astype(np.int32))["label"].numpy()
                  for i in range(0, len(data["length"]), 256)]
        out["champion"] = _strings(np.concatenate(labels))
    return out


def stitch_pieces(data: dict, probabilities: np.ndarray) -> list:
    """label: one dict per test piece (series id, start, raw values, true labels, stitched
    probabilities), from its windows."""
    by_piece = {}
    for i, key in enumerate(zip(data["meta/series_id"], data["meta/piece_start"])):
        by_piece.setdefault(key, []).append(i)
    pieces = []
    for key, rows in by_piece.items():
        n = int(data["meta/piece_length"][rows[0]])
        values = np.full((n, data["series"].shape[-1]), np.nan)
        true = np.empty(n, dtype=object)
        for i in rows:
            start, length = int(data["meta/start"][i]), int(data["length"][i])
            values[start:start + length] = data["series"][i, :length]
            true[start:start + length] = data["labels"][i, :length]
        pieces.append({"series_id": key[0], "start": int(key[1]), "values": values,
                       "true": true.astype(str),
                       "probabilities": sm.stitch(probabilities[rows], data["meta/start"][rows],
                                                  data["length"][rows], n)})
    return pieces


def score_steps(data: dict, probabilities: np.ndarray, p: sm.SequenceParams, serve) -> dict:
    """label: true, predicted and champion-predicted label per test step, pieces concatenated."""
    pieces = stitch_pieces(data, probabilities)
    if serve is not None:
        for piece in pieces:
            values = piece["values"].astype(np.float32)[None]
            piece["champion"] = _strings(serve(series=values, lengths=np.array(
                [len(values[0])], np.int32))["labels"].numpy()[0])
    out = {key: np.concatenate([piece[key] for piece in pieces])
           for key in ("true", "probabilities", "values") + (("champion",) if serve else ())}
    out["pred"] = np.asarray(p.classes)[out["probabilities"].argmax(-1)]
    out["ids"] = np.concatenate([[piece["series_id"]] * len(piece["true"]) for piece in pieces])
    out["steps"] = np.concatenate([piece["start"] + np.arange(len(piece["true"]))
                                   for piece in pieces])
    return out


def _write_predictions(path: str, scored: dict, classes: list, per_step: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["series_id"] + (["step"] if per_step else []) + ["label", "predicted"]
                        + [f"p_{c}" for c in classes])
        for i in range(len(scored["true"])):
            where = [scored["steps"][i]] if per_step else []
            writer.writerow([scored["ids"][i], *where, scored["true"][i], scored["pred"][i],
                             *(f"{v:.6f}" for v in scored["probabilities"][i])])


def _write_report(evaluation, report: dict, scored: dict, classes: list, params: dict,
                  ctx) -> None:
    """``metrics.json``, ``report.txt``, ``predictions.csv`` and the plots, logged to MLflow."""
    from seqline.components import plots

    per_step = "test_steps" in report
    reports, model = report["metrics"], report["metrics"]["model"]
    os.makedirs(evaluation.uri, exist_ok=True)
    with open(evaluation.path("metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    with open(evaluation.path("report.txt"), "w", encoding="utf-8") as fh:
        fh.write(report["verdict"] + "\n\n" + report_text(reports))
    _write_predictions(evaluation.path("predictions.csv"), scored, classes, per_step)
    ctx.log_file(plots.confusion_matrix(model["confusion"], model["labels"],
                                        evaluation.path("confusion_matrix.png"),
                                        f"Test {'steps' if per_step else 'series'}: "
                                        f"accuracy {model['accuracy']:.3f}"))
    if per_step:
        shown = min(params["plot_steps"], len(scored["true"]))
        ctx.log_file(plots.labeled_series(
            scored["values"][:shown], scored["true"][:shown], scored["pred"][:shown],
            model["labels"], evaluation.path("labeled_series.png"),
            f"First {shown} of {len(scored['true'])} test steps: true and predicted labels"))
    for name in ("metrics.json", "report.txt", "predictions.csv"):
        ctx.log_file(evaluation.path(name))


def absent_classes_line(report: dict, classes: list) -> str | None:
    """A warning naming the train classes the test split lacks, or ``None``."""
    absent = [c for c in classes if report["per_class"][c]["support"] == 0]
    if not absent:
        return None
    verb = "is" if len(absent) == 1 else "are"
    return (f"WARNING: the test split has no {', '.join(repr(c) for c in absent)} (present in "
            f"train): F1 {verb} 0 there for the model and the baseline, and macro-F1 averages "
            f"all {len(classes)} train classes")


def evaluate(params: dict, examples, graph, model_path: str, evaluation, ctx) -> tuple:
    """Score the model; ``params`` is the ``evaluation`` section plus ``task`` and
    ``champion_dir``. Returns ``(key metrics, blessed, reasons)``."""
    from seqline.components.tasks.sequence.data import load_arrays
    from seqline.models import load_model

    with open(graph.path("params.json"), encoding="utf-8") as fh:
        p = sm.SequenceParams(**json.load(fh))
    props = examples.properties
    per_step = props["per_step"]
    data = load_arrays(split_pattern(examples.uri, "test"), props)
    model = load_model(model_path)
    probabilities = counted_predict.predict(model, data["x"], 256,
                                            "windows scored" if per_step else "series scored")
    version, serve = _champion(params["champion_dir"], p.n_features, ctx)
    scored = (score_steps if per_step else score_series)(data, probabilities, p, serve)
    baseline = majority_label(p.classes, p.class_counts)
    reports = {"model": classification_report(scored["true"], scored["pred"], p.classes),
               "majority": classification_report(scored["true"], [baseline] * len(scored["true"]),
                                                 p.classes)}
    if "champion" in scored:
        reports["champion"] = classification_report(scored["true"], scored["champion"], p.classes)
    blessed, reasons = bless(reports["model"], reports["majority"], reports.get("champion"),
                             params["blessing"])
    model_f1, base_f1 = reports["model"]["macro_f1"], reports["majority"]["macro_f1"]
    beats = model_f1 > base_f1
    verdict = (f"model accuracy {reports['model']['accuracy']:.4f}, macro-F1 {model_f1:.4f} vs "
               f"majority baseline ('{baseline}') {reports['majority']['accuracy']:.4f}, "
               f"{base_f1:.4f}: the model {'beats' if beats else 'does NOT beat'} the baseline")
    ctx.echo(verdict)
    warning = absent_classes_line(reports["model"], p.classes)
    if warning:
        ctx.echo(warning)
    minority, minority_f1 = None, None
    if min(p.class_counts) < max(p.class_counts):
        minority = p.classes[int(np.argmin(p.class_counts))]
        minority_f1 = {name: r["per_class"][minority]["f1"] for name, r in reports.items()}
        ctx.echo(f"rarest train class '{minority}': F1 {minority_f1['model']:.4f} vs majority "
                 f"baseline {minority_f1['majority']:.4f}")

    unit = "test_steps" if per_step else "test_series"
    report = {"metrics": reports, unit: len(scored["true"]), "baseline_label": baseline,
              "beats_baseline": beats, "verdict": verdict, "rarest_class": minority,
              "rarest_class_f1": minority_f1, "champion_version": version}
    _write_report(evaluation, report, scored, p.classes, params, ctx)
    model_report = reports["model"]
    flat = {f"{who}_{k}": r[k] for who, r in reports.items() for k in ("accuracy", "macro_f1")}
    flat.update({f"model_f1_{metric_name(label)}": s["f1"]
                 for label, s in model_report["per_class"].items()})
    ctx.log_metrics(flat)
    evaluation.properties.update(metrics={who: {k: r[k] for k in ("accuracy", "macro_f1")}
                                          for who, r in reports.items()},
                                 beats_baseline=beats, **{unit: len(scored["true"])})
    key = {"accuracy": model_report["accuracy"], "macro_f1": model_f1,
           "baseline_accuracy": reports["majority"]["accuracy"], "baseline_macro_f1": base_f1}
    if minority is not None:
        key[f"f1_{metric_name(minority)}"] = minority_f1["model"]
    return key, blessed, reasons
