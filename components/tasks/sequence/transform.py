"""Transform of the classification tasks: train-split analyzers, padding or windowing, the
transform graph.

Analyzers (Beam, train split only): per-feature count/sum/sum of squares/min/max (the scaling),
the label vocabulary with its counts, and for ``classify`` the longest series.

Outputs
    transform_graph: ``graph/`` (TF SavedModel, ``transform(series, lengths)``) and
        ``params.json`` (:class:`~seqline.components.tasks.sequence.numerics.SequenceParams`).
    transformed_examples: ``Split-<split>-*.tfrecord.gz``, one example per series (classify)
        or per window (label): ``x`` (model input ``[steps, F + 1]``), ``y`` (class ids: one, or
        one per step), ``w`` (loss weights, 0 on padding), ``series`` (raw, NaN-padded),
        ``length``, ``labels`` (strings) and ``meta/*`` (series id, where the window starts).
"""
from __future__ import annotations

import json
import os
from collections import Counter

import apache_beam as beam
import numpy as np
from tensorflow.core.example import example_pb2

from seqline.components.split_io import (SPLITS, ReadSplits, SaveSplitCounts, WriteSplits,
                                         finish_splits)
from seqline.components.tasks.sequence import numerics as sm
from seqline.components.tasks.feature_stats import MomentsFn, scaling_stats
from seqline.components.tasks.sequence.codec import decode
from seqline.pipeline.errors import DataError


def fit_params(_, moments: dict, counts: dict, longest: int, params: dict,
               columns: list) -> dict:
    """The fitted :class:`SequenceParams` (as a dict) from the analyzers' results."""
    classes = sorted(counts)
    center, scale = scaling_stats(moments, params["scaling"])
    class_counts = [counts[c] for c in classes]
    if params["task"] == "label":
        steps, stride = params["window"], params["stride"]
    else:
        steps = params["max_length"] or longest
        stride = steps
    return sm.SequenceParams(columns, center, scale, classes, class_counts,
                             sm.class_weights(class_counts, params["class_weights"]),
                             steps, stride).to_dict()


def check_classes(classes: list, per_step: bool) -> None:
    """A classifier needs two or more train labels."""
    if len(classes) < 2:
        hint = ("labels come in time order: change data.split so that train holds every label"
                if per_step else "add series of other labels")
        raise DataError(f"Transform: the train split has {len(classes)} label(s) "
                        f"({', '.join(classes) or 'none'}); a classifier needs two or more — "
                        f"{hint}")


def _example(x, y, w, raw, length, labels, series_id, piece_start, start, piece_length):
    ex = example_pb2.Example()
    f = ex.features.feature
    f["x"].float_list.value.extend(x.ravel())
    f["y"].int64_list.value.extend(y)
    f["w"].float_list.value.extend(w)
    f["series"].float_list.value.extend(raw.ravel())
    f["length"].int64_list.value.append(int(length))
    f["labels"].bytes_list.value.extend(label.encode() for label in labels)
    f["meta/series_id"].bytes_list.value.append(series_id.encode())
    f["meta/piece_start"].int64_list.value.append(int(piece_start))
    f["meta/start"].int64_list.value.append(int(start))
    f["meta/piece_length"].int64_list.value.append(int(piece_length))
    return ex.SerializeToString(deterministic=True)


def encode_series(item, params: dict):
    """classify: ``(split, Sequence)`` -> ``(split, example)`` of the padded series. An eval
    series whose label train never had is left out (the loss cannot score it)."""
    split, seq = item
    p = sm.SequenceParams(**params)
    y = sm.class_ids(seq.labels, p.classes)
    if y[0] < 0 and split != "test":
        return
    raw, length = sm.pad(seq.values, p.steps)
    x = sm.model_input(raw[None], np.array([length]), p)[0]
    w = [p.class_weights[y[0]] if y[0] >= 0 else 0.0]
    yield split, _example(x, y, w, raw, length, seq.labels, seq.series_id, 0, 0, seq.length)


def encode_windows(item, params: dict):
    """label: ``(split, Sequence)`` -> ``(split, example)`` for each window of the piece."""
    split, seq = item
    p = sm.SequenceParams(**params)
    windows, lengths, starts = sm.cut_windows(seq.values, p.steps, p.stride)
    x = sm.model_input(windows, lengths, p)
    ids = sm.class_ids(seq.labels, p.classes)
    weights = np.where(ids >= 0, np.asarray(p.class_weights)[np.maximum(ids, 0)], 0.0)
    for k, (start, length) in enumerate(zip(starts, lengths)):
        y, w = np.zeros(p.steps, np.int64), np.zeros(p.steps)
        y[:length] = np.maximum(ids[start:start + length], 0)
        w[:length] = weights[start:start + length]
        labels = seq.labels[start:start + length] + [""] * (p.steps - length)
        yield split, _example(x[k], y, w, windows[k], length, labels, seq.series_id, seq.start,
                              start, seq.length)


def sequence_notes(item, params: dict, per_step: bool):
    """What the report says about one sequence: labels train never had, truncation (classify
    reads the first ``steps`` steps of a longer series)."""
    split, seq = item
    unseen = Counter(label for label in seq.labels if label not in params["classes"])
    return split, dict(unseen), int(not per_step and seq.length > params["steps"])


def summarize_notes(notes: list) -> dict:
    """Unseen label counts and truncated sequences per split."""
    unseen = {s: Counter() for s in SPLITS}
    truncated = dict.fromkeys(SPLITS, 0)
    for split, counts, cut in notes:
        unseen[split].update(counts)
        truncated[split] += cut
    return {"unseen": {s: dict(c) for s, c in unseen.items() if c}, "truncated": truncated}


def _write_json(obj, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)


def run_transform(params: dict, examples, graph, transformed, ctx) -> dict:
    """Analyze, pad or window, and write; ``params`` is the ``transform`` section plus
    ``task``. Returns key metrics."""
    from seqline.components.tasks.sequence import graph as sequence_graph

    per_step = params["task"] == "label"
    columns = examples.properties["feature_columns"]
    n = len(columns)
    os.makedirs(graph.uri, exist_ok=True)
    counts_path, notes_path = graph.path("example_counts.json"), graph.path("notes.json")
    with beam.Pipeline(options=ctx.beam_options()) as p:
        seqs = (p | "Read" >> ReadSplits(examples.uri)
                | "Decode" >> beam.MapTuple(lambda split, data: (split, decode(data, n))))
        train = seqs | "Train" >> beam.Filter(lambda s: s[0] == "train") | "Seqs" >> beam.Values()
        moments = (train | "Values" >> beam.Map(lambda s: s.values)
                   | "Moments" >> beam.CombineGlobally(MomentsFn(n)))
        label_counts = (train | "Labels" >> beam.FlatMap(lambda s: s.labels)
                        | "CountLabels" >> beam.combiners.Count.PerElement()
                        | "LabelDict" >> beam.combiners.ToDict())
        longest = (train | "Lengths" >> beam.Map(lambda s: s.length)
                   | "Longest" >> beam.CombineGlobally(max).without_defaults())
        fitted = p | "Once" >> beam.Create([None]) | "Fit" >> beam.Map(
            fit_params, moments=beam.pvalue.AsSingleton(moments),
            counts=beam.pvalue.AsSingleton(label_counts),
            longest=beam.pvalue.AsSingleton(longest, default_value=0), params=params,
            columns=columns)
        fitted | "SaveParams" >> beam.Map(_write_json, graph.path("params.json"))
        encode = encode_windows if per_step else encode_series
        encoded = seqs | "Encode" >> beam.FlatMap(encode, beam.pvalue.AsSingleton(fitted))
        (encoded | "Write" >> WriteSplits(transformed.uri)
         | "SaveCounts" >> SaveSplitCounts(counts_path))
        (seqs | "Notes" >> beam.Map(sequence_notes, beam.pvalue.AsSingleton(fitted), per_step)
         | "NoteList" >> beam.combiners.ToList()
         | "SaveNotes" >> beam.Map(lambda notes: _write_json(summarize_notes(notes), notes_path)))
    finish_splits(transformed.uri)
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        fitted_params = sm.SequenceParams(**json.load(fh))
    check_classes(fitted_params.classes, per_step)
    with open(counts_path, encoding="utf-8") as fh:
        found = json.load(fh)
    with open(notes_path, encoding="utf-8") as fh:
        notes = json.load(fh)
    counts = {s: found.get(s, 0) for s in SPLITS}
    unit = "windows" if per_step else "series"
    for split in ("train", "test"):
        if counts[split] == 0:
            raise DataError(f"Transform: no {split} {unit}; add data or change data.split")
    for split, unseen in notes["unseen"].items():
        what = "steps" if per_step else "series"
        ctx.echo(f"{split}: {sum(unseen.values())} {what} with labels the train split never had "
                 f"({', '.join(sorted(unseen))}): the model cannot predict them"
                 + ("" if split == "test" or per_step else "; left out of eval"))
    truncated = sum(notes["truncated"].values())
    if truncated:
        ctx.echo(f"{truncated} series longer than {fitted_params.steps} steps: the model reads "
                 "their first transform.max_length steps")
    sequence_graph.save(fitted_params, graph.path("graph"))
    shape = {"steps": fitted_params.steps, "stride": fitted_params.stride, "n_features": n,
             "n_classes": len(fitted_params.classes), "per_step": per_step}
    graph.properties.update(task=params["task"], classes=fitted_params.classes, **shape)
    transformed.properties.update(split_names=list(SPLITS), split_counts=counts, **shape)
    metrics = {f"{s}_{unit}": c for s, c in counts.items()}
    metrics.update(steps=fitted_params.steps, classes=len(fitted_params.classes))
    return metrics if per_step else {**metrics, "truncated_series": truncated}
