"""Text Transform: the character vocabulary of the train split, fixed-length id sequences.

Outputs
    transform_graph: ``graph/`` (TF SavedModel: ``encode`` / ``encode_batch`` / ``decode``) and
        ``params.json`` (vocabulary, unigram baseline, ``seq_len``).
    transformed_examples: ``Split-<split>-*.tfrecord.gz``, one example per window of
        ``seq_len + 1`` characters: ``ids`` (int64) and ``text`` (the characters themselves).
        The model reads ids ``[:-1]`` and predicts ids ``[1:]``.
"""
from __future__ import annotations

import collections
import json
import os

import apache_beam as beam
import numpy as np
from tensorflow.core.example import example_pb2

from seqline.components.split_io import (SPLITS, ReadSplits, SaveSplitCounts, WriteSplits,
                                         finish_splits)
from seqline.components.tasks.text import numerics as tm
from seqline.components.tasks.text.example_gen import decode_line
from seqline.pipeline.errors import DataError


def _count_chars(counters) -> collections.Counter:
    total = collections.Counter()
    for counter in counters:
        total.update(counter)
    return total


def fit_params(counts: dict, params: dict) -> dict:
    """Vocabulary and unigram baseline from the train split's character ``counts``."""
    if not counts:
        raise DataError("Transform: the train split has no characters")
    vocab = tm.build_vocab(counts, params["min_count"], params["max_vocab"])
    index = tm.char_index(vocab)
    id_counts = np.zeros(len(vocab) + 1)
    for char, n in counts.items():
        id_counts[index.get(char, tm.OOV_ID)] += n
    return {"vocab": vocab, "unigram": tm.unigram_probabilities(id_counts).tolist(),
            "seq_len": params["seq_len"], "stride": params["stride"] or params["seq_len"],
            "oov_train_chars": int(id_counts[tm.OOV_ID])}


def encode_windows(item, fitted: dict):
    """``(split, lines)`` -> ``(split, serialized Example)`` per window of the split's text."""
    split, lines = item
    text = "".join(line.text for line in sorted(lines, key=lambda line: line.offset))
    ids = tm.encode(text, tm.char_index(fitted["vocab"]))
    seq_len = fitted["seq_len"]
    for start in tm.sequence_starts(len(text), seq_len, fitted["stride"]):
        ex = example_pb2.Example()
        f = ex.features.feature
        f["ids"].int64_list.value.extend(ids[start:start + seq_len + 1].tolist())
        f["text"].bytes_list.value.append(text[start:start + seq_len + 1].encode("utf-8"))
        yield split, ex.SerializeToString(deterministic=True)


def _write_json(obj, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)


def run_transform(params: dict, examples, graph, transformed, ctx) -> dict:
    """Vocabulary, windows and graph; ``params`` is the ``transform`` section. Returns key metrics."""
    from seqline.components.tasks.text import graph as text_graph

    os.makedirs(graph.uri, exist_ok=True)
    counts_path = graph.path("window_counts.json")
    with beam.Pipeline(options=ctx.beam_options()) as p:
        lines = (p | "Read" >> ReadSplits(examples.uri)
                 | "Decode" >> beam.MapTuple(lambda split, data: (split, decode_line(data))))
        fitted = (lines | "TrainLines" >> beam.Filter(lambda sl: sl[0] == "train")
                  | "CountPerLine" >> beam.Map(lambda sl: collections.Counter(sl[1].text))
                  | "CountChars" >> beam.CombineGlobally(_count_chars)
                  | "Fit" >> beam.Map(fit_params, params))
        fitted | "SaveParams" >> beam.Map(_write_json, graph.path("params.json"))
        windows = (lines | "BySplit" >> beam.GroupByKey()
                   | "Window" >> beam.FlatMap(encode_windows, beam.pvalue.AsSingleton(fitted)))
        (windows | "Write" >> WriteSplits(transformed.uri)
         | "SaveCounts" >> SaveSplitCounts(counts_path))
    finish_splits(transformed.uri)
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        fitted = json.load(fh)
    with open(counts_path, encoding="utf-8") as fh:
        found = json.load(fh)
    counts = {s: found.get(s, 0) for s in SPLITS}
    if counts["train"] == 0 or counts["test"] == 0:
        split = "train" if not counts["train"] else "test"
        raise DataError(f"Transform: the {split} split is shorter than transform.seq_len + 1 = "
                        f"{params['seq_len'] + 1} characters; lower transform.seq_len or add text")
    text_graph.save(fitted["vocab"], graph.path("graph"))
    shape = {"seq_len": fitted["seq_len"], "vocab_size": len(fitted["vocab"]) + 1}
    graph.properties.update(task="generate", **shape)
    transformed.properties.update(split_names=list(SPLITS), split_counts=counts, **shape)
    return {**{f"{s}_sequences": n for s, n in counts.items()}, "vocab_size": shape["vocab_size"],
            "oov_train_chars": fitted["oov_train_chars"]}
