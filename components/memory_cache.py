"""Whether the Trainer keeps a split's examples in memory (``training.cache_in_memory: auto``).

``auto`` caches the train and eval splits when their serialized examples take at most a quarter
of the memory available when training starts, and streams them from disk otherwise, so a data
set larger than memory trains with bounded memory. The size is read from the files, not guessed
from the example count.
"""
from __future__ import annotations

import glob
import logging
import os
import struct
import zlib

import psutil

CACHE_SHARE = 0.25        # of the memory available when training starts
RECORD_OVERHEAD = 64      # bytes tf.data's cache holds per example beside its bytes
_EXACT_BELOW = 4 << 20    # compressed bytes under which the gzip trailer's size is exact
_SAMPLE = 1 << 20         # compressed bytes read to measure a larger file's compression ratio
_SAMPLE_OUT = 16 << 20    # at most this much of it inflated

LOG = logging.getLogger("seqline.run")


def gzip_content_bytes(path: str) -> int:
    """Uncompressed bytes of the one-member gzip file ``path``.

    The trailer holds the size modulo 2**32. That is exact below 4 MiB compressed (deflate
    expands at most 1032x); for a larger file the compression ratio of its first MiB picks the
    multiple of 2**32.
    """
    compressed = os.path.getsize(path)
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        modulo = struct.unpack("<I", fh.read(4))[0]
        if compressed < _EXACT_BELOW:
            return modulo
        fh.seek(0)
        sample = fh.read(_SAMPLE)
    inflate = zlib.decompressobj(wbits=31)
    out = len(inflate.decompress(sample, _SAMPLE_OUT))
    estimate = compressed * out / (len(sample) - len(inflate.unconsumed_tail))
    return modulo + (1 << 32) * max(0, round((estimate - modulo) / (1 << 32)))


def split_bytes(pattern: str, records: int) -> int:
    """Memory a cached split takes: its files' content plus a per-example overhead."""
    return sum(gzip_content_bytes(p) for p in glob.glob(pattern)) + RECORD_OVERHEAD * records


def _size(n: float) -> str:
    """``n`` bytes in kB, MB or GB, e.g. ``'12.3 MB'``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.1f} kB"


def choose_cache(setting, splits: dict, available: int | None = None) -> bool:
    """``training.cache_in_memory`` (``True``, ``False`` or ``"auto"``) -> whether to cache the
    ``splits`` (split -> ``(file pattern, examples)``); ``auto`` says what it chose and why."""
    if setting != "auto":
        return bool(setting)
    sizes = {split: split_bytes(pattern, n) for split, (pattern, n) in splits.items()}
    available = psutil.virtual_memory().available if available is None else available
    shown = ", ".join(f"{split} {_size(n)}" for split, n in sizes.items())
    if sum(sizes.values()) <= CACHE_SHARE * available:
        LOG.info(f"caching the examples in memory ({shown}; at most a quarter of the "
                 f"{_size(available)} available)")
        return True
    LOG.info(f"streaming the examples from disk each epoch: {shown} is more than a quarter of "
             f"the {_size(available)} of memory available (training.cache_in_memory: true forces "
             f"the cache)")
    return False
