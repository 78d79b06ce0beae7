"""Read and write split TFRecords: ``Split-<split>-<shard>-of-<shards>.tfrecord.gz`` files.

One Beam sink serves all splits (grouped by split and shard), which costs a third of three
separate ``WriteToTFRecord`` sinks on the DirectRunner, and writes the same bytes on every runner.
"""
from __future__ import annotations

import functools
import glob
import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct

import apache_beam as beam
import google_crc32c

from seqline.pipeline import counters
from seqline.pipeline.errors import DataError

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


READ_BATCH = 4096   # records per batch of ReadSplitBatches
COMPRESS_LEVEL = 1  # gzip level of the split files: a third of level 6's time, 8% larger files
_CHECKED_HEADS = 4096   # distinct record lengths whose checked headers read_records keeps


def read_records(path: str, block: int = 1 << 20):
    """The records of a gzipped TFRecord file (decompressed ``block`` bytes at a time), their
    CRCs checked; a damaged or cut-off file is a DataError naming it and the record. The buffer
    only ever holds the current block and the start of the record that runs past it. Length
    headers repeat (records of one layout have one length), so each is checked once."""
    checked = set()
    with gzip.open(path, "rb") as fh:
        buf, pos, number = b"", 0, 0
        while True:
            if len(buf) - pos < 12:
                buf, pos = buf[pos:] + fh.read(max(block, 12)), 0
                if not buf:
                    return
            number += 1
            head = buf[pos:pos + 12]
            if head not in checked:
                if len(head) < 12 or _masked_crc(head[:8]) != head[8:]:
                    raise DataError(f"{path}: record {number} has a damaged length; the file is "
                                    "cut off or corrupt, run the stage that wrote it again")
                if len(checked) >= _CHECKED_HEADS:
                    checked.clear()
                checked.add(head)
            end = pos + 16 + struct.unpack_from("<Q", head)[0]
            if end > len(buf):
                buf, end, pos = buf[pos:], end - pos, 0
                while end > len(buf) and (chunk := fh.read(max(block, end - len(buf)))):
                    buf += chunk
            data = buf[pos + 12:end - 4]
            if len(buf) < end or _masked_crc(data) != buf[end - 4:end]:
                raise DataError(f"{path}: record {number} is damaged (CRC mismatch or cut off); "
                                "run the stage that wrote it again")
            yield data
            pos = end


def _split_batches(path: str, size: int):
    split, batch = split_of_file(path), []
    for data in read_records(path):
        batch.append(data)
        if len(batch) == size:
            counters.add("records read", size)
            yield split, batch
            batch = []
    if batch:
        counters.add("records read", len(batch))
        yield split, batch


class ReadSplitBatches(beam.PTransform):
    """:class:`ReadSplits` in batches: ``(split, [serialized example, ...])`` of up to ``size``
    examples, one element per batch."""

    def __init__(self, uri: str, size: int = READ_BATCH):
        super().__init__()
        self.uri = uri
        self.size = size

    def expand(self, pbegin):
        return (pbegin | "Files" >> beam.Create(split_files(self.uri))
                | "Read" >> beam.FlatMap(_split_batches, self.size))


def _shard_item(x: tuple, shards: int) -> list:
    counters.add("records written")
    return [((x[0], google_crc32c.value(x[-1]) % shards), (x[1:-1] or (x[-1],), x[-1]))]


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=_CHECKED_HEADS)
def _length_head(size: int) -> bytes:
    length = struct.pack("<Q", size)
    return length + _masked_crc(length)


def tfrecord_frame(data: bytes) -> bytes:
    """One record in the TFRecord framing: length, its CRC (cached per length), data, its CRC."""
    return _length_head(len(data)) + data + _masked_crc(data)


def shard_file(uri: str, split: str, shard: int, shards: int) -> str:
    return os.path.join(uri, f"Split-{split}-{shard:05d}-of-{shards:05d}.tfrecord.gz")


WRITE_BLOCK = 1024   # records framed and compressed in one call


def _write_shard(uri: str, shards: int, split_shard: tuple, records) -> tuple:
    """Write one shard's records sorted by key (then bytes), through a temporary file; return
    ``(split, records written)``."""
    records = sorted(records)
    blobs = (b"".join(tfrecord_frame(data) for _, data in records[i:i + WRITE_BLOCK])
             for i in range(0, len(records), WRITE_BLOCK))
    _write_framed(uri, shards, split_shard, blobs)
    return split_shard[0], len(records)


def _write_framed(uri: str, shards: int, split_shard: tuple, blobs) -> None:
    """One shard's file from its framed records (bytes in order), through a temporary file."""
    split, shard = split_shard
    path = shard_file(uri, split, shard, shards)
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.tmp-{os.getpid()}"
    os.makedirs(uri, exist_ok=True)
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                compresslevel=COMPRESS_LEVEL) as gz:
        for blob in blobs:
            gz.write(blob)
    os.replace(tmp, path)


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
                | "Shard" >> beam.FlatMap(_shard_item, shards)
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.MapTuple(lambda key, parts: _write_shard(uri, shards, key,
                                                                                parts)))


PARTS = ".runs"   # folder of part files (WriteSplitRuns', stage_part's) inside the artifact,
                  # removed at the end


def _part_path(uri: str, split: str, shard: int, key) -> str:
    digest = hashlib.sha1(repr(key).encode()).hexdigest()
    return os.path.join(uri, PARTS, f"{split}-{shard:05d}-{digest}")


def stage_part(uri: str, name, obj) -> str:
    """Pickle ``obj`` to a part file under ``uri`` named by a digest of ``name`` (through a
    temporary file); returns its path, which is all that need cross a shuffle, so the runner
    does not hold every object at once. :func:`finish_splits` removes what is left."""
    path = os.path.join(uri, PARTS, "staged-" + hashlib.sha1(repr(name).encode()).hexdigest())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def read_part(path: str):
    """The object :func:`stage_part` wrote to ``path``. The file stays until
    :func:`finish_splits`: a runner may compute a step twice (the Dask runner does, for a
    collection that several steps read)."""
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _stage_run(item: tuple, uri: str, shards: int) -> list:
    """A run -> its framed records in one part file per shard it touches (through a temporary
    file); ``((split, shard), (key, part path, count))`` for each."""
    split, key, run = item
    counters.add("records written", len(run))
    by_shard = {}
    for data in run:
        by_shard.setdefault(google_crc32c.value(data) % shards if shards > 1 else 0,
                            []).append(tfrecord_frame(data))
    out = []
    for shard, frames in sorted(by_shard.items()):
        path = _part_path(uri, split, shard, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(b"".join(frames))
        os.replace(tmp, path)
        out.append(((split, shard), (key, path, len(frames))))
    return out


def _read_parts(paths, block: int = 1 << 22):
    """The bytes of the files ``paths``, one after the other, ``block`` bytes at a time."""
    for path in paths:
        with open(path, "rb") as fh:
            while chunk := fh.read(block):
                yield chunk


def _write_runs(uri: str, shards: int, split_shard: tuple, runs) -> tuple:
    runs = sorted(runs)
    _write_framed(uri, shards, split_shard, _read_parts(path for _, path, _ in runs))
    for _, path, _ in runs:
        os.remove(path)
    return split_shard[0], sum(count for _, _, count in runs)


class WriteSplitRuns(WriteSplits):
    """:class:`WriteSplits` for runs of examples already in order: ``(split, key, [serialized
    example, ...])`` elements, one per run, the runs' keys distinct. Each shard holds its runs by
    key, each run's examples in the run's order: the bytes :class:`WriteSplits` writes for
    ``(split, (key, sort key), example)`` items when each run is sorted by those sort keys
    (ExampleGen's runs: one series and split, in time order). Outputs ``(split, records
    written)`` per shard, as :class:`WriteSplits`.

    Each run's records go to a part file under ``uri`` where the run is made; only its path
    crosses the shuffle, and each shard's writer streams its parts in key order, so no process
    holds a split's records. The parts need a folder every worker can reach (the artifact's);
    :func:`finish_splits` removes the emptied folder."""

    def expand(self, runs):
        uri, shards = self.uri, self.shards
        return (runs
                | "Stage" >> beam.FlatMap(_stage_run, uri, shards)
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.MapTuple(lambda key, parts: _write_runs(uri, shards, key,
                                                                               parts)))


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
    """Give every split and shard that received no element an empty file, and remove
    :class:`WriteSplitRuns`' emptied part folder."""
    os.makedirs(uri, exist_ok=True)
    shutil.rmtree(os.path.join(uri, PARTS), ignore_errors=True)
    for split in splits:
        for shard in range(shards):
            path = shard_file(uri, split, shard, shards)
            if not os.path.exists(path):
                with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                            mtime=0):
                    pass
