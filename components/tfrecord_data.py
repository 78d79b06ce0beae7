"""tf.data input over gzipped TFRecord split files, shared by every task's ``datasets`` hook."""
from __future__ import annotations

import tensorflow as tf


def serialized_examples(pattern: str, *, shuffle: bool = False, shuffle_buffer: int = 10000,
                        seed: int = 0, cache: bool = False, expand=None) -> tf.data.Dataset:
    """Serialized examples of the files matching ``pattern``.

    Files are interleaved, the serialized examples optionally cached in memory (later epochs skip
    reading and decompressing), turned into the elements they hold by ``expand`` (a function of
    the dataset, e.g. the windows of each series segment) and shuffled (train only); file order
    when not shuffled. The interleave is deterministic even when shuffling, so one seed gives
    one order in every run.
    """
    files = tf.data.Dataset.list_files(pattern, shuffle=shuffle, seed=seed)
    ds = files.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                          cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache()
    if expand is not None:
        ds = expand(ds)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds


def batched_examples(pattern: str, batch_size: int, parse, *, shuffle: bool = False,
                     shuffle_buffer: int = 10000, seed: int = 0, cache: bool = False, expand=None):
    """Batches of ``parse(batch)`` from :func:`serialized_examples` (serialized examples, or the
    elements ``expand`` makes of them), prefetched."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ds = serialized_examples(pattern, shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed,
                             cache=cache, expand=expand)
    return ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)
