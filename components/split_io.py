"""Read and write split TFRecords: ``Split-<split>-<shard>-of-<shards>.tfrecord.gz`` files.

One Beam sink serves all splits (grouped by split and shard), which costs a third of three
separate ``WriteToTFRecord`` sinks on the DirectRunner, and writes the same bytes on every runner.
"""
from __future__ import annotations

import glob
import gzip
import json
import os
import struct

import apache_beam as beam
import google_crc32c

from seqline.pipeline import counters

SPLITS = ("train", "eval", "test")


def split_pattern(uri: str, split: str) -> str:
    """Glob of the TFRecord files of ``split`` inside an artifact folder."""
    return os.path.join(uri, f"Split-{split}-*.tfrecord.gz")


def split_files(uri: str) -> list:
    """All TFRecord files of all splits inside an artifact folder."""
    return sorted(glob.glob(os.path.join(uri, "Split-*.tfrecord.gz")))


def split_of_file(path: str) -> str:
    """The split a file written by :class:`WriteSplits` belongs to."""
    return os.path.basename(path).split("-")[1]


class ReadSplits(beam.PTransform):
    """``(split, serialized example)`` pairs of every split in an artifact folder."""

    def __init__(self, uri: str):
        super().__init__()
        self.uri = uri

    def expand(self, pbegin):
        return (pbegin | "Files" >> beam.Create(split_files(self.uri))
                | "Read" >> beam.io.ReadAllFromTFRecord(with_filename=True)
                | "Split" >> beam.MapTuple(_split_and_count))


def _split_and_count(path: str, data: bytes) -> tuple:
    counters.add("records read")
    return split_of_file(path), data


def _shard_and_count(x: tuple, shards: int) -> tuple:
    counters.add("records written")
    return (x[0], google_crc32c.value(x[-1]) % shards), (x[1:-1] or (x[-1],), x[-1])


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def tfrecord_frame(data: bytes) -> bytes:
    """One record in the TFRecord framing: length, its CRC, data, its CRC."""
    length = struct.pack("<Q", len(data))
    return length + _masked_crc(length) + data + _masked_crc(data)


def shard_file(uri: str, split: str, shard: int, shards: int) -> str:
    return os.path.join(uri, f"Split-{split}-{shard:05d}-of-{shards:05d}.tfrecord.gz")


def _write_shard(uri: str, shards: int, split_shard: tuple, records) -> tuple:
    """Write one shard's records sorted by key (then bytes), through a temporary file; return
    ``(split, records written)``."""
    split, shard = split_shard
    path = shard_file(uri, split, shard, shards)
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.tmp-{os.getpid()}"
    os.makedirs(uri, exist_ok=True)
    records = sorted(records)
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                compresslevel=6) as gz:
        for _, data in records:
            gz.write(tfrecord_frame(data))
    os.replace(tmp, path)
    return split, len(records)


class WriteSplits(beam.PTransform):
    """Write ``(split, sort key, serialized example)`` elements (or ``(split, serialized
    example)``, sorted by the bytes) under ``uri``: ``shards`` gzipped TFRecord files per split,
    each sorted by key; call :func:`finish_splits` afterwards. Outputs ``(split, records written)``
    per shard written (see :class:`SaveSplitCounts`).

    The output is byte-identical whatever the runner, worker count or bundle order: an element's
    shard comes from a hash of its bytes, records are sorted, and gzip headers carry no name or
    time. That needs the same record to be the same bytes in every process: serialize protos with
    ``SerializeToString(deterministic=True)`` (map fields otherwise come in a per-process order).
    """

    def __init__(self, uri: str, shards: int = 1):
        super().__init__()
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.uri = uri
        self.shards = shards

    def expand(self, items):
        uri, shards = self.uri, self.shards
        return (items
                | "Shard" >> beam.Map(_shard_and_count, shards)
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.MapTuple(lambda key, records: _write_shard(
                    uri, shards, key, records)))


def _save_counts(written, path: str) -> None:
    counts = {}
    for split, n in written:
        counts[split] = counts.get(split, 0) + n
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(counts, fh, indent=2, sort_keys=True)


class SaveSplitCounts(beam.PTransform):
    """Write ``{split: records}`` from :class:`WriteSplits`' output to the JSON file ``path``
    (splits that received nothing are left out)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, written):
        return (written | "AllShards" >> beam.combiners.ToList()
                | "Save" >> beam.Map(_save_counts, self.path))


def finish_splits(uri: str, splits=SPLITS, shards: int = 1) -> None:
    """Give every split and shard that received no element an empty file."""
    os.makedirs(uri, exist_ok=True)
    for split in splits:
        for shard in range(shards):
            path = shard_file(uri, split, shard, shards)
            if not os.path.exists(path):
                with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                            mtime=0):
                    pass
