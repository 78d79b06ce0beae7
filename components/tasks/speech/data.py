"""tf.data input pipelines over the speech TransformedExamples: padded, length-bucketed batches
of ``({"features", "lengths"}, labels)``, with waveform augmentation and SpecAugment on the train
split if configured."""
from __future__ import annotations

import tensorflow as tf

from seqline.components.tasks.speech.augment import augment_waveform
from seqline.components.tasks.speech.features import FeatureExtractor, FeatureParams, spec_augment
from seqline.components.tasks.speech.audio_io import from_pcm16
from seqline.components.tasks.speech.codec import CONDITION
from seqline.components.tfrecord_data import serialized_examples

FEATURES = {"features": tf.io.FixedLenFeature([], tf.string),
            "frames": tf.io.FixedLenFeature([], tf.int64),
            "labels": tf.io.VarLenFeature(tf.int64)}
META = {"transcript": tf.io.FixedLenFeature([], tf.string),
        "speaker": tf.io.FixedLenFeature([], tf.string),
        "path": tf.io.FixedLenFeature([], tf.string)}

AUDIO = {"audio": tf.io.FixedLenFeature([], tf.string)}


def meta_spec(props: dict) -> dict:
    """The per-clip metadata features: :data:`META` plus ``condition/<column>`` of each of the
    manifest's condition columns."""
    return {**META, **{CONDITION + c: tf.io.FixedLenFeature([], tf.string, default_value="")
                       for c in props.get("condition_columns", [])}}


def _parser(n_features: int, meta: dict, with_audio: bool = False):
    spec = {**FEATURES, **meta, **(AUDIO if with_audio else {})}

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        features = tf.reshape(tf.io.decode_raw(ex["features"], tf.float32), [-1, n_features])
        inputs = {"features": features, "lengths": tf.cast(ex["frames"], tf.int32)}
        if with_audio:
            inputs["audio"] = ex["audio"]
        labels = tf.cast(tf.sparse.to_dense(ex["labels"]), tf.int32)
        if meta:
            return inputs, labels, {k: ex[k] for k in meta}
        return inputs, labels

    return parse


def _augmented_features(waveform_augment: dict):
    """``(example, clip seed) -> example`` whose features come from the clip's augmented
    waveform (``audio``), through the Transform's extractor and train statistics."""
    p = FeatureParams(**waveform_augment["feature_params"])
    extractor = FeatureExtractor(p)
    mean = tf.constant(waveform_augment["mean"], tf.float32)
    std = tf.constant(waveform_augment["std"], tf.float32)

    def apply(example, clip_seed):
        inputs, labels = example
        wave = tf.cast(tf.io.decode_raw(inputs.pop("audio"), tf.int16), tf.float32) / 32767.0
        wave = augment_waveform(wave, waveform_augment, p.sample_rate, clip_seed)
        features = (extractor.extract(wave) - mean) / std
        return {**inputs, "features": features, "lengths": tf.shape(features)[0]}, labels

    return apply


def make_dataset(pattern: str, props: dict, batch_size: int, *, shuffle: bool = False,
                 shuffle_buffer: int = 10000, seed: int = 0, cache: bool = False,
                 augment: dict | None = None, waveform_augment: dict | None = None,
                 with_meta: bool = False):
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
    meta = meta_spec(props) if with_meta else {}
    ds = ds.map(_parser(props["n_features"], meta, with_audio=bool(waveform_augment)),
                num_parallel_calls=tf.data.AUTOTUNE)
    masks = augment and (augment["freq_masks"] or augment["time_masks"])
    buckets = list(props["length_buckets"])
    if waveform_augment or masks:
        from_waveform = _augmented_features(waveform_augment) if waveform_augment else None

        def augmented(example, clip_seed):
            if from_waveform:
                example = from_waveform(example, clip_seed)
            if masks:
                inputs, labels = example
                example = ({**inputs, "features": spec_augment(inputs["features"], augment,
                                                               clip_seed)}, labels)
            return example

        if waveform_augment:   # slowed-down clips are longer: the last bucket must hold them
            buckets[-1] = int(buckets[-1] / min(min(waveform_augment["speeds"]), 1.0)) + 2
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, seeds).map(augmented, num_parallel_calls=tf.data.AUTOTUNE)
    shapes = ({"features": [None, props["n_features"]], "lengths": []}, [props["max_labels"]])
    if with_meta:
        shapes += ({k: [] for k in meta},)
    ds = ds.bucket_by_sequence_length(
        lambda x, *_: x["lengths"], buckets, [batch_size] * (len(buckets) + 1),
        padded_shapes=shapes, pad_to_bucket_boundary=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_split(pattern: str, props: dict, batch_size: int = 64) -> tuple:
    """A whole split: ``(batches of model inputs, metadata dict of lists)``, in the batches' order
    (grouped by length, not file order); the metadata rows follow the batches' rows. Condition
    columns are keyed by their column name (``channel``)."""
    keys = list(meta_spec(props))
    batches, meta = [], {k.removeprefix(CONDITION): [] for k in keys}
    for inputs, _, extra in make_dataset(pattern, props, batch_size, with_meta=True):
        batches.append(inputs)
        for key in keys:
            meta[key.removeprefix(CONDITION)] += [v.decode() for v in extra[key].numpy()]
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
