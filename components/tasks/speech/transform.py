"""Speech Transform: features of every clip, statistics and vocabulary from the train split, the
transform graph.

Outputs
    transform_graph: ``graph/`` (TF SavedModel with ``features`` and ``detokenize`` signatures)
        and ``params.json`` (feature settings, per-channel mean/std, vocabulary, the most frequent
        train transcript).
    transformed_examples: ``Split-<split>-*.tfrecord.gz`` with one clip per example: ``features``
        (float32 bytes, ``[frames, n_features]``, normalized), ``frames``, ``labels`` (CTC label
        ids), ``transcript``, ``speaker``, ``path``; the test split also keeps the ``audio``
        (16-bit PCM) so the Evaluator can re-score the exported champion on raw waveforms, and so
        does the train split when ``waveform_augment`` is on: the Trainer's input then augments
        the waveform and computes the features itself, with the same extractor and statistics.
"""
from __future__ import annotations

import json
import os

import apache_beam as beam
import numpy as np
from tensorflow.core.example import example_pb2

from seqline.components.split_io import SPLITS, ReadSplits, WriteSplits, finish_splits
from seqline.components.tasks.speech import features as audio_features
from seqline.components.tasks.speech.augment import is_active
from seqline.components.tasks.speech.text import ctc_steps, encode_labels
from seqline.components.tasks.speech.codec import decode, put_meta
from seqline.components.tasks.speech.audio_io import to_pcm16
from seqline.pipeline.errors import DataError

STD_FLOOR = 1e-3
BUCKETS = 7          # batch shapes per epoch (each one compiled once with XLA)


class ExtractFeatures(beam.DoFn):
    """``(split, Clip)`` -> ``(split, Clip, unnormalized features [frames, n_features])``."""

    def __init__(self, p: audio_features.FeatureParams):
        self.p = p

    def setup(self):
        self.extractor = audio_features.FeatureExtractor(self.p)

    def process(self, item):
        split, clip = item
        yield split, clip, self.extractor.extract(clip.samples).numpy()


class FrameMomentsFn(beam.CombineFn):
    """Per-channel frame count, sum and sum of squares (float64)."""

    def __init__(self, n_features: int):
        self.n = n_features

    def create_accumulator(self):
        return [0, np.zeros(self.n), np.zeros(self.n)]

    def add_input(self, acc, features):
        f = features.astype(np.float64)
        return [acc[0] + len(f), acc[1] + f.sum(0), acc[2] + (f ** 2).sum(0)]

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out = [out[0] + a[0], out[1] + a[1], out[2] + a[2]]
        return out

    def extract_output(self, acc):
        return acc


def _fit(_, moments, chars, top, p: audio_features.FeatureParams) -> dict:
    count, total, squares = moments
    if count == 0:
        raise DataError("Transform: the train split has no audio frames")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    return {**p.to_json(), "mean": mean.astype(np.float32).tolist(),
            "std": np.maximum(std, STD_FLOOR).astype(np.float32).tolist(),
            "vocabulary": sorted(chars), "most_frequent_transcript": top[0][0] if top else ""}


def _encode(item, fitted: dict, keep_audio: tuple = ("test",)):
    """Normalize and serialize one clip: ``(split, bytes, frames, labels, max total stride,
    unknown characters)``."""
    split, clip, features = item
    mean, std = np.asarray(fitted["mean"], np.float32), np.asarray(fitted["std"], np.float32)
    normalized = ((features - mean) / std).astype("<f4")
    labels = encode_labels(clip.transcript, fitted["vocabulary"])
    frames = len(features)
    steps = ctc_steps(labels)
    max_stride = frames if steps <= 1 else (frames - 1) // (steps - 1)
    ex = example_pb2.Example()
    f = ex.features.feature
    f["features"].bytes_list.value.append(normalized.tobytes())
    f["frames"].int64_list.value.append(frames)
    f["labels"].int64_list.value.extend(labels)
    put_meta(f, clip)
    if split in keep_audio:
        f["audio"].bytes_list.value.append(to_pcm16(clip.samples))
        f["sample_rate"].int64_list.value.append(clip.sample_rate)
    return (split, ex.SerializeToString(deterministic=True), frames, len(labels), max_stride,
            len(clip.transcript) - len(labels))


def _write_json(obj, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)


def _summary(_, counts, train_frames, sizes, max_stride, unknown):
    """Split counts, batching shapes and CTC limits. ``length_buckets`` cut the train clips into
    groups of equal size by frames; the last bucket ends past the longest clip of any split."""
    cuts = np.percentile(train_frames, np.linspace(0, 100, BUCKETS + 1)[1:-1]).astype(int) + 1
    max_frames, max_labels = sizes
    return {"split_counts": {s: counts.get(s, 0) for s in SPLITS},
            "length_buckets": sorted(set(int(c) for c in cuts) | {max_frames + 1}),
            "max_frames": max_frames, "max_labels": max_labels,
            "max_total_stride": int(max_stride), "unknown_chars": int(unknown)}


def run_transform(params: dict, examples, graph, transformed, ctx) -> dict:
    """Extract features, fit the train statistics and vocabulary, write examples and the graph;
    ``params`` is the ``transform`` section. Returns key metrics."""
    p = audio_features.FeatureParams(
        sample_rate=examples.properties["sample_rate"], features=params["features"],
        n_mels=params["n_mels"], n_mfcc=params["n_mfcc"], frame_ms=params["frame_ms"],
        hop_ms=params["hop_ms"], fmin=params["fmin"], fmax=params["fmax"])
    os.makedirs(graph.uri, exist_ok=True)
    summary_path = graph.path("summary.json")
    augment = dict(params["waveform_augment"]) if is_active(params["waveform_augment"]) else None
    keep_audio = ("train", "test") if augment else ("test",)
    with beam.Pipeline(options=ctx.beam_options()) as pipe:
        feats = (pipe | "Read" >> ReadSplits(examples.uri)
                 | "Decode" >> beam.MapTuple(lambda split, data: (split, decode(data)))
                 | "Features" >> beam.ParDo(ExtractFeatures(p)))
        train = feats | "Train" >> beam.Filter(lambda item: item[0] == "train")
        moments = (train | "TrainFeatures" >> beam.Map(lambda item: item[2])
                   | "Moments" >> beam.CombineGlobally(FrameMomentsFn(p.n_features)))
        chars = (train | "Chars" >> beam.Map(lambda item: set(item[1].transcript))
                 | "Vocabulary" >> beam.CombineGlobally(lambda sets: set().union(*sets)))
        top = (train | "Transcripts" >> beam.Map(lambda item: item[1].transcript)
               | "CountTranscripts" >> beam.combiners.Count.PerElement()
               | "MostFrequent" >> beam.combiners.Top.Of(1, key=lambda kv: (kv[1], kv[0])))
        fitted = (pipe | "Once" >> beam.Create([None]) | "Fit" >> beam.Map(
            _fit, moments=beam.pvalue.AsSingleton(moments), chars=beam.pvalue.AsSingleton(chars),
            top=beam.pvalue.AsSingleton(top), p=p))
        fitted | "SaveParams" >> beam.Map(_write_json, graph.path("params.json"))
        encoded = feats | "Encode" >> beam.Map(_encode, beam.pvalue.AsSingleton(fitted),
                                              keep_audio)
        encoded | "Pairs" >> beam.Map(lambda e: (e[0], e[1])) | "Write" >> WriteSplits(transformed.uri)
        counts = (encoded | "SplitNames" >> beam.Map(lambda e: e[0])
                  | "CountSplits" >> beam.combiners.Count.PerElement())
        train_frames = (encoded | "TrainOnly" >> beam.Filter(lambda e: e[0] == "train")
                        | "Frames" >> beam.Map(lambda e: e[2]) | "FrameList" >> beam.combiners.ToList())
        sizes = (encoded | "Sizes" >> beam.Map(lambda e: (e[2], e[3]))
                 | "MaxSizes" >> beam.CombineGlobally(
                     lambda pairs: tuple(max(v, default=0) for v in zip(*pairs)) or (0, 0)))
        max_stride = (encoded | "Fitted" >> beam.Filter(lambda e: e[0] != "test")
                      | "Strides" >> beam.Map(lambda e: e[4]) | "MinStride" >> beam.CombineGlobally(min))
        unknown = (encoded | "Unknown" >> beam.Map(lambda e: e[5])
                   | "SumUnknown" >> beam.CombineGlobally(sum))
        (pipe | "Once2" >> beam.Create([None])
         | "Summary" >> beam.Map(_summary, counts=beam.pvalue.AsDict(counts),
                                 train_frames=beam.pvalue.AsSingleton(train_frames),
                                 sizes=beam.pvalue.AsSingleton(sizes),
                                 max_stride=beam.pvalue.AsSingleton(max_stride),
                                 unknown=beam.pvalue.AsSingleton(unknown))
         | "SaveSummary" >> beam.Map(_write_json, summary_path))
    finish_splits(transformed.uri)
    with open(graph.path("params.json"), encoding="utf-8") as fh:
        fitted = json.load(fh)
    with open(summary_path, encoding="utf-8") as fh:
        summary = json.load(fh)
    audio_features.save(p, fitted["mean"], fitted["std"], fitted["vocabulary"], graph.path("graph"))
    counts = summary["split_counts"]
    if summary["unknown_chars"]:
        ctx.echo(f"{summary['unknown_chars']} transcript characters of eval/test clips are not in "
                 "the train vocabulary: they count as errors but have no label")
    ctx.echo(f"{p.n_features} {p.features} channels, {p.hop_ms:g} ms hop; vocabulary of "
             f"{len(fitted['vocabulary'])} characters: {''.join(fitted['vocabulary'])!r}")
    shape = {"n_features": p.n_features, "vocabulary_size": len(fitted["vocabulary"]),
             "sample_rate": p.sample_rate}
    graph.properties.update(task="asr", **shape)
    if augment:   # what the Trainer's input needs to compute features from augmented waveforms
        augment.update(feature_params=p.to_json(), mean=fitted["mean"], std=fitted["std"])
    transformed.properties.update(
        split_names=list(SPLITS), split_counts=counts, length_buckets=summary["length_buckets"],
        max_frames=summary["max_frames"], max_labels=summary["max_labels"],
        max_total_stride=summary["max_total_stride"],
        spec_augment=dict(params["spec_augment"]), waveform_augment=augment,
        condition_columns=examples.properties.get("condition_columns", []), **shape)
    return {**{f"{s}_clips": n for s, n in counts.items()}, "vocabulary": len(fitted["vocabulary"]),
            "max_frames": summary["max_frames"]}
