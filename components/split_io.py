"""Write ``(split, serialized example)`` pairs as one gzipped TFRecord file set per split.

One Beam sink serves all splits (``fileio.WriteToFiles`` with the split as destination), which
costs a third of three separate ``WriteToTFRecord`` sinks on the DirectRunner.
"""
from __future__ import annotations

import glob
import gzip
import os
import shutil
import struct

import apache_beam as beam
import google_crc32c
from apache_beam.io import fileio

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
                | "Split" >> beam.MapTuple(lambda path, data: (split_of_file(path), data)))


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def tfrecord_frame(data: bytes) -> bytes:
    """One record in the TFRecord framing: length, its CRC, data, its CRC."""
    length = struct.pack("<Q", len(data))
    return length + _masked_crc(length) + data + _masked_crc(data)


class _TFRecordSink(fileio.FileSink):
    def open(self, fh):
        self.gz = gzip.GzipFile(fileobj=fh, mode="wb")

    def write(self, record):
        self.gz.write(tfrecord_frame(record[1]))

    def flush(self):
        self.gz.close()


def _naming(window, pane, shard_index, total_shards, compression, destination):
    return f"Split-{destination}-{shard_index or 0:05d}-of-{total_shards or 1:05d}.tfrecord.gz"


class WriteSplits(beam.PTransform):
    """Write ``(split, bytes)`` elements under ``uri``; call :func:`finish_splits` afterwards."""

    def __init__(self, uri: str):
        super().__init__()
        self.uri = uri

    def expand(self, pairs):
        return pairs | fileio.WriteToFiles(self.uri, destination=lambda kv: kv[0],
                                           sink=lambda _: _TFRecordSink(), file_naming=_naming)


def finish_splits(uri: str, splits=SPLITS) -> None:
    """Remove the sink's temporary folder and give every empty split one empty file."""
    os.makedirs(uri, exist_ok=True)
    for temp in glob.glob(os.path.join(uri, ".temp*")):
        shutil.rmtree(temp, ignore_errors=True)
    for split in splits:
        if not glob.glob(split_pattern(uri, split)):
            with gzip.open(os.path.join(uri, f"Split-{split}-00000-of-00001.tfrecord.gz"), "wb"):
                pass
