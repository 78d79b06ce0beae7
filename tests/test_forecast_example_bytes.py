"""ExampleGen's forecast outputs stay byte-for-byte the same across rewrites of its Beam pipeline:
SHA-256 of every file for the ECG example with bad rows of each kind, recorded with the code of
commit 9da8a65 (before the Dask-runner changes to ExampleGen's transforms); the split files'
since the gzip level went from 6 to 1 (the same content, checked decompressed). A change of
format must update them on purpose (it changes every cache key downstream)."""
from __future__ import annotations

import hashlib
import os

import pytest
import yaml

from seqline.components import example_gen
from seqline.pipeline.config import validate_config
from tests.forecast_fixtures import ROOT, run_executor

EXAMPLE = os.path.join(ROOT, "examples", "sensor_forecast")
BAD_ROWS = ["segment_1,not a time,0.1", "segment_2,2020-01-01 00:00:00.002778,abc",
            "segment_3,2020-01-01 00:00:01.000000", "segment_1,2020-01-01 00:00:00.002778,0.5",
            "segment_2,2020-01-01 00:00:09.000000,1e39", ""]
EXPECTED = {   # (data.until, data.split_by) -> file -> SHA-256
    (1.0, "time"): {
        "examples/Split-eval-00000-of-00001.tfrecord.gz":
            "54a27cb909d1388e635ce72085201a1f0e6cb06e9e27b4fe5d1ab365207c279b",
        "examples/Split-test-00000-of-00001.tfrecord.gz":
            "d46a8a590a76fabff0786844950a85ea67c07138ecf7a1eb94da187bed36b9f8",
        "examples/Split-train-00000-of-00001.tfrecord.gz":
            "0c649650b35867b9e5809311f5c463d5423e26feba00bc9490027a9404d3d249",
        "quarantine/quarantine.csv":
            "3e7e129159787a47de5d6911eea8c4dbc11b1305c9a402a8a11fc2f9625cf220",
        "quarantine/summary.json":
            "3932a78e4eca5ee3877d67a4c7d21e65510b9b051fb72ccbe75b1754cc02ff73",
    },
    (0.8, "time"): {
        "examples/Split-eval-00000-of-00001.tfrecord.gz":
            "62cbf3940daa61f962074a6553073c9d4c2ac09837434b0ca71c4b73c5bd00d0",
        "examples/Split-test-00000-of-00001.tfrecord.gz":
            "1b5ac422e2b1700cdcf5ce83ccc47952db50bd1727358db3ecbc97b418dd37c1",
        "examples/Split-train-00000-of-00001.tfrecord.gz":
            "f0b0508726386e14fcc21259948b84ba45c1a09e7c66d07e408dbb79abd8f25a",
        "quarantine/quarantine.csv":
            "3e7e129159787a47de5d6911eea8c4dbc11b1305c9a402a8a11fc2f9625cf220",
        "quarantine/summary.json":
            "8fa14c8d2610624f9fb8f3ad836fec6535a29bc15d3734a415f4e33c35c1d9cc",
    },
    (1.0, "series"): {
        "examples/Split-eval-00000-of-00001.tfrecord.gz":
            "54a27cb909d1388e635ce72085201a1f0e6cb06e9e27b4fe5d1ab365207c279b",
        "examples/Split-test-00000-of-00001.tfrecord.gz":
            "d46a8a590a76fabff0786844950a85ea67c07138ecf7a1eb94da187bed36b9f8",
        "examples/Split-train-00000-of-00001.tfrecord.gz":
            "0c649650b35867b9e5809311f5c463d5423e26feba00bc9490027a9404d3d249",
        "quarantine/quarantine.csv":
            "3e7e129159787a47de5d6911eea8c4dbc11b1305c9a402a8a11fc2f9625cf220",
        "quarantine/summary.json":
            "8e0925ff4e9a9fbdd99317d164f3a7e781e49c4c11ba6c906a164846000d4481",
    },
}


def example_gen_digests(folder: str, until: float = 1.0, split_by: str = "time") -> dict:
    """Run ExampleGen in ``folder`` (the current directory: records name the file relative to
    it) on the example's CSV with ``BAD_ROWS`` inserted; SHA-256 of each output file."""
    with open(os.path.join(EXAMPLE, "data", "ecg_360hz.csv"), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for i, bad in enumerate(BAD_ROWS):
        lines.insert(100 + 1000 * i, bad)
    with open(os.path.join(folder, "ecg.csv"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(EXAMPLE, "pipeline.yaml"), encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    raw["data"].update(path="ecg.csv", until=until, split_by=split_by)
    out = run_executor(example_gen, validate_config(raw), {}, os.path.join(folder, "eg"))
    digests = {}
    for name in ("examples", "quarantine"):
        for file in sorted(os.listdir(out[name].uri)):
            if file != "artifact.json":
                with open(os.path.join(out[name].uri, file), "rb") as fh:
                    digests[f"{name}/{file}"] = hashlib.sha256(fh.read()).hexdigest()
    return digests


@pytest.mark.parametrize("until, split_by", sorted(EXPECTED))
def test_example_gen_writes_the_bytes_it_wrote_before(tmp_path, monkeypatch, until, split_by):
    monkeypatch.chdir(tmp_path)
    assert example_gen_digests(str(tmp_path), until, split_by) == EXPECTED[(until, split_by)]
