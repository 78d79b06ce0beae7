"""tf.data input pipelines over the speech TransformedExamples: padded, length-bucketed batches
of ``({"features", "lengths"}, labels)``, with SpecAugment on the train split if configured."""
from __future__ import annotations

import tensorflow as tf

from seqline.components.tasks.speech.features import spec_augment
from seqline.components.tasks.speech.audio_io import from_pcm16
from seqline.components.tfrecord_data import serialized_examples

FEATURES = {"features": tf.io.FixedLenFeature([], tf.string),
            "frames": tf.io.FixedLenFeature([], tf.int64),
            "labels": tf.io.VarLenFeature(tf.int64)}
META = {"transcript": tf.io.FixedLenFeature([], tf.string),
        "speaker": tf.io.FixedLenFeature([], tf.string),
        "path": tf.io.FixedLenFeature([], tf.string)}


def _parser(n_features: int, with_meta: bool):
    spec = {**FEATURES, **(META if with_meta else {})}

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        features = tf.reshape(tf.io.decode_raw(ex["features"], tf.float32), [-1, n_features])
        inputs = {"features": features, "lengths": tf.cast(ex["frames"], tf.int32)}
        labels = tf.cast(tf.sparse.to_dense(ex["labels"]), tf.int32)
        if with_meta:
            return inputs, labels, {k: ex[k] for k in META}
        return inputs, labels

    return parse


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, cache: bool = False,
                 augment: dict | None = None, with_meta: bool = False):
    """Padded batches of ``({"features" [B, T, F], "lengths" [B]}, labels [B, L])``, plus a dict
    of ``transcript``/``speaker``/``path`` with ``with_meta``. Labels are padded with 0 (blank).

    Clips are grouped by length (``props['length_buckets']``) and padded to their bucket's
    boundary, so an epoch has a handful of batch shapes (XLA compiles each once) and little
    padding; the order therefore differs from file order. ``augment`` (the ``spec_augment``
    section) masks features of train clips: each clip's masks come from its own seed, drawn from
    ``seed`` anew each epoch, so a run is reproducible although the clips are masked in parallel.
    """
    ds = serialized_examples(pattern, shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed,
                             cache=cache)
    ds = ds.map(_parser(props["n_features"], with_meta), num_parallel_calls=tf.data.AUTOTUNE)
    if augment and (augment["freq_masks"] or augment["time_masks"]):
        def masked(example, clip_seed):
            inputs, labels = example
            return {**inputs, "features": spec_augment(inputs["features"], augment, clip_seed)}, labels

        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, seeds).map(masked, num_parallel_calls=tf.data.AUTOTUNE)
    buckets = props["length_buckets"]
    shapes = ({"features": [None, props["n_features"]], "lengths": []}, [props["max_labels"]])
    if with_meta:
        shapes += ({k: [] for k in META},)
    ds = ds.bucket_by_sequence_length(
        lambda x, *_: x["lengths"], buckets, [batch_size] * (len(buckets) + 1),
        padded_shapes=shapes, pad_to_bucket_boundary=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_split(pattern: str, props: dict, batch_size: int = 64) -> tuple:
    """A whole split: ``(batches of model inputs, metadata dict of lists)``, in the batches' order
    (grouped by length, not file order); the metadata rows follow the batches' rows."""
    batches, meta = [], {k: [] for k in META}
    for inputs, _, extra in make_dataset(pattern, props, batch_size, with_meta=True):
        batches.append(inputs)
        for key in META:
            meta[key] += [v.decode() for v in extra[key].numpy()]
    return batches, meta


def load_audio(pattern: str, limit: int | None = None) -> list:
    """``(transcript, raw waveform)`` of each test clip in file order (float32 at the data's
    sample rate)."""
    spec = {"audio": tf.io.FixedLenFeature([], tf.string), "transcript": META["transcript"]}
    out = []
    for serialized in serialized_examples(pattern).take(-1 if limit is None else limit):
        ex = tf.io.parse_single_example(serialized, spec)
        out.append((ex["transcript"].numpy().decode(), from_pcm16(ex["audio"].numpy())))
    return out
