"""Compression hooks of the classification tasks: test/train arrays, the network's probabilities
as the serving signature returns them, the Evaluator's scores and the edge model's metadata.

classify: one row per series, everywhere. label: the network (and an edge model) reads windows,
the serving signature whole series; both are scored per step over the test pieces (the windows'
probabilities stitched back, as the Evaluator does), so every variant gets the same numbers.
"""
from __future__ import annotations

import json

import numpy as np

from seqline.components.split_io import split_pattern
from seqline.components.tasks.sequence import numerics as sm
from seqline.components.tasks.base import SplitArrays
from seqline.components.tasks.sequence.metrics import classification_report
from seqline.components.tasks.sequence.evaluate import stitch_pieces


def read_params(graph) -> sm.SequenceParams:
    """The transform's parameters saved next to the transform graph."""
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        return sm.SequenceParams(**json.load(fh))


def split_arrays(transformed, graph, split: str) -> SplitArrays:
    """Model inputs and class ids of ``split``; the serving input (raw series and lengths: the
    series themselves for classify, the split's pieces of series for label)."""
    from seqline.components.tasks.sequence.data import load_arrays

    data = load_arrays(split_pattern(transformed.uri, split), transformed.properties)
    p = read_params(graph)
    extra = {"data": data, "params": p, "per_step": transformed.properties["per_step"]}
    if not extra["per_step"]:
        serving = {"series": data["series"], "lengths": data["length"].astype(np.int32)}
        return SplitArrays(x=data["x"], y=data["y"], serving=serving, extra=extra)
    pieces = stitch_pieces(data, np.zeros(data["x"].shape[:2] + (len(p.classes),), np.float32))
    lengths = np.array([len(piece["true"]) for piece in pieces], np.int32)
    series = np.zeros((len(pieces), lengths.max(), p.n_features), np.float32)
    for row, piece in zip(series, pieces):
        row[:len(piece["values"])] = piece["values"]
    extra["true"] = [piece["true"] for piece in pieces]
    return SplitArrays(x=data["x"], y=data["y"], serving={"series": series, "lengths": lengths},
                       extra=extra)


def from_model_space(data: SplitArrays, outputs: np.ndarray) -> dict:
    """Network probabilities -> ``{"probabilities": ...}`` shaped as the serving signature's:
    ``[series, classes]`` (classify) or ``[pieces, steps, classes]``, the windows stitched back
    (label)."""
    probabilities = np.asarray(outputs, np.float32)
    if not data.extra["per_step"]:
        return {"probabilities": probabilities}
    pieces = stitch_pieces(data.extra["data"], probabilities)
    stitched = np.zeros(data.serving["series"].shape[:2] + probabilities.shape[-1:], np.float32)
    for row, piece in zip(stitched, pieces):
        row[:len(piece["probabilities"])] = piece["probabilities"]
    return {"probabilities": stitched}


def score(data: SplitArrays, outputs: dict) -> dict:
    """Accuracy and macro-F1 over the test series (classify) or steps (label), as the Evaluator
    computes them."""
    p = data.extra["params"]
    classes = np.asarray(p.classes)
    probabilities = np.asarray(outputs["probabilities"])
    if data.extra["per_step"]:
        true = np.concatenate(data.extra["true"])
        pred = np.concatenate([classes[probabilities[i, :len(t)].argmax(-1)]
                               for i, t in enumerate(data.extra["true"])])
    else:
        true, pred = data.extra["data"]["labels"][:, 0], classes[probabilities.argmax(-1)]
    report = classification_report(true, pred, p.classes)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def budget(section: dict):
    """At most ``max_drop`` below the float model's ``metric`` (accuracy or macro-F1)."""
    from seqline.components.compression.selection import Budget

    return Budget(section["metric"], higher_is_better=True, max_absolute_loss=section["max_drop"])


def edge_metadata(graph, transformed) -> dict:
    """How to turn a raw series into the edge model's input and read its output."""
    p = read_params(graph)
    per_step = transformed.properties["per_step"]
    unit = "window" if per_step else "series"
    steps = [f"take {p.steps} steps of the {unit} (a shorter one: pad the end, see below)",
             "fill missing values forward, then backward, along the valid steps",
             "x = (x - center) / scale, per feature; values still missing become 0",
             "append a last feature 'valid': 1 on real steps, 0 on padding; padded steps are all 0"]
    if per_step:
        steps.insert(0, f"cut the series into windows of {p.steps} steps every {p.stride} steps "
                        "(the last ones padded)")
    post = (["average the overlapping windows' probabilities at every step",
             "label = label_map[argmax over classes]"] if per_step
            else ["label = label_map[argmax over classes]"])
    return {
        "inputs": {"x": {"steps": p.steps, "features": p.feature_columns + ["valid"],
                         "description": f"one {unit} of raw values after preprocessing, oldest "
                                        "step first"}},
        "preprocessing": {"steps": steps, "center": dict(zip(p.feature_columns, p.center)),
                          "scale": dict(zip(p.feature_columns, p.scale)),
                          "padding": "an edge model of a recurrent network (its tf_keras twin: "
                                     "TFLite's fused LSTM takes no mask) reads padded steps (all "
                                     "0) like real ones, and its test score includes padded "
                                     f"{unit}s; a Transformer keeps its padding mask"},
        "outputs": {"probabilities": {"classes": p.classes,
                                      "shape": ([p.steps] if per_step else []) + [len(p.classes)]}},
        "postprocessing": {"steps": post},
        "label_map": {str(i): label for i, label in enumerate(p.classes)},
    }
