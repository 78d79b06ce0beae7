"""Compression hooks of speech recognition: clips of the split, greedy CTC decoding of the edge
network's logits, CER/WER as the Evaluator computes them, a budget in points of CER.

The edge network (``seqline.models.ctc.edge_network``) takes the normalized feature frames of one
unpadded clip, of any length, and returns its frame logits; the SavedModel variants take the raw
waveform and answer its transcript, so every variant is scored on the same test clips.
"""
from __future__ import annotations

import json

import numpy as np

from seqline.components.split_io import split_pattern
from seqline.components.tasks.base import SplitArrays, evenly_spaced_rows


def read_params(graph) -> dict:
    """The transform's parameters saved next to the transform graph (feature settings, per-channel
    mean and std, vocabulary)."""
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _records(pattern: str, n_features: int, with_audio: bool) -> list:
    """``(features [frames, n_features], labels, transcript, waveform or None)`` of every clip of
    a split, in file order."""
    import tensorflow as tf

    from seqline.components.tasks.speech.audio_io import from_pcm16

    spec = {"features": tf.io.FixedLenFeature([], tf.string),
            "labels": tf.io.VarLenFeature(tf.int64),
            "transcript": tf.io.FixedLenFeature([], tf.string)}
    if with_audio:
        spec["audio"] = tf.io.FixedLenFeature([], tf.string)
    files = sorted(tf.io.gfile.glob(pattern))
    out = []
    for serialized in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        ex = tf.io.parse_single_example(serialized, spec)
        features = np.frombuffer(ex["features"].numpy(), "<f4").reshape(-1, n_features)
        out.append((features, tf.sparse.to_dense(ex["labels"]).numpy(),
                    ex["transcript"].numpy().decode(),
                    from_pcm16(ex["audio"].numpy()) if with_audio else None))
    return out


def _rows(items: list) -> np.ndarray:
    """A 1-D object array holding ``items`` (arrays of different lengths) as its rows."""
    rows = np.empty(len(items), dtype=object)
    rows[:] = items
    return rows


def split_arrays(transformed, graph, split: str) -> SplitArrays:
    """Feature frames of each clip (``x``, rows of different lengths), label ids (``y``), the
    waveforms (``serving``, test split only: the only one that keeps its audio) and the
    reference transcripts."""
    params = read_params(graph)
    clips = _records(split_pattern(transformed.uri, split), transformed.properties["n_features"],
                     with_audio=split == "test")
    features, labels, transcripts, waves = zip(*clips) if clips else ((), (), (), ())
    serving = {"waveform": _rows(list(waves))} if split == "test" else {}
    return SplitArrays(x=_rows(list(features)), y=_rows(list(labels)), serving=serving,
                       extra={"transcripts": list(transcripts), "vocabulary": params["vocabulary"]})


def scored_rows(data: SplitArrays, settings: dict) -> SplitArrays:
    """At most ``settings["max_test_clips"]`` clips of ``data``, evenly spaced over the split (so
    every channel and voice keeps its share); all of them when it is None. Each variant runs its
    recurrent network once per clip, so scoring costs time in proportion to the clips."""
    count = settings.get("max_test_clips")
    if count is None or len(data.x) <= count:
        return data
    keep = evenly_spaced_rows(len(data.x), count)
    return SplitArrays(x=data.x[keep], y=data.y[keep],
                       serving={k: v[keep] for k, v in data.serving.items()},
                       extra={**data.extra, "transcripts": [data.extra["transcripts"][i] for i in keep]})


def greedy_text(logits: np.ndarray, vocabulary: list) -> str:
    """Best-path CTC decoding of one clip's ``logits [frames, classes]``: the most likely class
    per frame, repeats merged, blanks (0) dropped, ids mapped to characters."""
    best = np.asarray(logits).argmax(-1)
    kept = [int(i) for j, i in enumerate(best) if i != 0 and (j == 0 or i != best[j - 1])]
    return "".join(vocabulary[i - 1] for i in kept)


def from_model_space(data: SplitArrays, outputs) -> dict:
    """The edge network's logits of each clip -> ``{"transcript": ...}`` as the serving
    signature answers (greedy decoding)."""
    vocabulary = data.extra["vocabulary"]
    return {"transcript": np.array([greedy_text(logits, vocabulary) for logits in outputs])}


def score(data: SplitArrays, outputs: dict) -> dict:
    """Corpus CER and WER of the transcripts against the references (the Evaluator's figures)."""
    from seqline.components.tasks.speech.text import error_rates

    hyps = [t.decode() if isinstance(t, bytes) else str(t) for t in outputs["transcript"]]
    rates = error_rates(data.extra["transcripts"], hyps)
    return {"cer": rates["cer"], "wer": rates["wer"]}


def budget(section: dict):
    """At most ``max_cer_increase`` more CER than the float model (0.02: two points)."""
    from seqline.components.compression.selection import Budget

    return Budget("cer", higher_is_better=False, max_absolute_loss=section["max_cer_increase"])


def edge_network(model):
    """The network on one clip's frames, of any length (no padding, no lengths input)."""
    from seqline.models.ctc import edge_network as network

    return network(model)


def edge_metadata(graph, transformed) -> dict:
    """How to turn a waveform into the edge network's input and read its output."""
    p = read_params(graph)
    n = transformed.properties["n_features"]
    kind = "log-mel" if p["features"] == "log_mel" else "MFCC"
    return {
        "inputs": {"features": {"frames": "any (one clip, unpadded)", "channels": n,
                                "sample_rate": p["sample_rate"],
                                "description": f"normalized {kind} frames of one mono clip"}},
        "preprocessing": {
            "steps": [f"resample the clip to {p['sample_rate']} Hz mono, samples in [-1, 1]",
                      f"{kind} features: {p['frame_ms']:g} ms Hann frames every {p['hop_ms']:g} "
                      f"ms, {p['n_mels']} mel channels from {p['fmin']:g} Hz"
                      + (f", {p['n_mfcc']} MFCCs" if p["features"] == "mfcc" else ""),
                      "x = (x - mean) / std per channel",
                      "resize the input tensor to [1, frames, channels] for each clip"],
            "mean": p["mean"], "std": p["std"],
            "reference": "the transform graph's `features` signature computes these frames "
                         "from a waveform (transform_graph/graph in the pipeline's outputs)"},
        "outputs": {"logits": {"steps": "one per model step (input frames / the conv stride)",
                               "classes": len(p["vocabulary"]) + 1,
                               "description": "class 0 is the CTC blank, class i is label_map[i]"}},
        "postprocessing": {"steps": ["best class per frame", "merge repeated classes",
                                     "drop blanks (0)", "text = label_map of each class, joined"]},
        "label_map": {str(i + 1): c for i, c in enumerate(p["vocabulary"])},
    }
