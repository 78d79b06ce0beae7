"""training.cache_in_memory: auto caches the examples only when they fit in memory."""
import gzip
import logging
import os
import struct
import zlib

import numpy as np
import pytest

from seqline.components import memory_cache as mc


def _gzip(path, data: bytes) -> str:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(data)
    return str(path)


def test_small_file_size_is_exact(tmp_path):
    data = np.random.default_rng(0).integers(0, 4, 300_000, dtype=np.uint8).tobytes()
    assert mc.gzip_content_bytes(_gzip(tmp_path / "a.gz", data)) == len(data)
    assert mc.gzip_content_bytes(_gzip(tmp_path / "empty.gz", b"")) == 0


def test_large_incompressible_file(tmp_path):
    data = np.random.default_rng(1).bytes(5 << 20)   # above the exact-trailer size once gzipped
    path = _gzip(tmp_path / "big.gz", data)
    assert os.path.getsize(path) > mc._EXACT_BELOW
    assert mc.gzip_content_bytes(path) == len(data)


def test_content_over_4_gib_is_not_wrapped(tmp_path):
    """4.5 GiB of zeros, written as identical fully flushed deflate blocks (the reader checks
    sizes, not the CRC): the trailer says 0.5 GiB, the content is 4.5 GiB."""
    chunk, copies = bytes(64 << 20), 72
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    path = tmp_path / "huge.gz"
    with open(path, "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
        for _ in range(copies):
            fh.write(block)
        fh.write(deflate.flush())
        fh.write(struct.pack("<II", 0, (len(chunk) * copies) & 0xFFFFFFFF))
    assert mc.gzip_content_bytes(str(path)) == len(chunk) * copies


def test_split_bytes_adds_per_example_overhead(tmp_path):
    for i in range(2):
        _gzip(tmp_path / f"Split-train-{i}-of-2.tfrecord.gz", b"x" * 1000)
    pattern = str(tmp_path / "Split-train-*.tfrecord.gz")
    assert mc.split_bytes(pattern, 10) == 2000 + 10 * mc.RECORD_OVERHEAD


@pytest.fixture
def splits(tmp_path):
    _gzip(tmp_path / "Split-train-0-of-1.tfrecord.gz", b"x" * 100_000)
    _gzip(tmp_path / "Split-eval-0-of-1.tfrecord.gz", b"x" * 20_000)
    return {"train": (str(tmp_path / "Split-train-*"), 100),
            "eval": (str(tmp_path / "Split-eval-*"), 20)}


def test_auto_caches_what_fits_and_streams_the_rest(splits, caplog):
    need = 120_000 + 120 * mc.RECORD_OVERHEAD
    with caplog.at_level(logging.INFO, logger="seqline.run"):
        assert mc.choose_cache("auto", splits, available=4 * need)
        assert "caching the examples in memory" in caplog.text
        assert not mc.choose_cache("auto", splits, available=4 * need - 4)
    assert "streaming the examples from disk" in caplog.text
    assert "train 106.4 kB, eval 21.3 kB" in caplog.text


def test_explicit_settings_are_obeyed(splits):
    assert mc.choose_cache(True, splits, available=1)
    assert not mc.choose_cache(False, splits, available=1 << 40)


def test_config_accepts_auto_and_booleans_only():
    from seqline.pipeline.config_fields import COMMON, check_value
    from seqline.pipeline.errors import ConfigError

    spec = COMMON["training"].fields["cache_in_memory"]
    assert spec.default == "auto"
    for value in ("auto", True, False):
        assert check_value("training.cache_in_memory", spec, value) == value
    with pytest.raises(ConfigError, match="must be one of auto, true, false, got 'yes'"):
        check_value("training.cache_in_memory", spec, "yes")
