"""The spoken-digits corpus: clips, manifest, held-out voices, and the CLI without espeak-ng."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from seqline.corpora.spoken_digits import DIGITS, HELD_OUT_VARIANTS, generate, noise
from seqline.pipeline.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("digits") / "corpus")
    summary = generate(out, 30, seed=5)
    with open(os.path.join(out, "manifest.csv"), newline="") as fh:
        return out, summary, list(csv.DictReader(fh))


def test_manifest_lists_every_clip_with_its_transcript_speaker_and_duration(corpus):
    out, summary, rows = corpus
    assert len(rows) == 30 and list(rows[0]) == ["path", "transcript", "speaker", "duration", "channel"]
    assert {r["channel"] for r in rows} == {"clean"}
    assert sorted(os.listdir(os.path.join(out, "clips"))) == sorted(os.path.basename(r["path"]) for r in rows)
    for row in rows:
        words = row["transcript"].split()
        assert 3 <= len(words) <= 7 and set(words) <= set(DIGITS)
        info = soundfile.info(os.path.join(out, row["path"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.duration == pytest.approx(float(row["duration"]), abs=1e-3)
        assert 0.5 < info.duration < 10
    assert not [d for d in os.listdir(os.path.dirname(out)) if ".tmp-" in d]


def test_clips_carry_speech_above_the_noise(corpus):
    out, _, rows = corpus
    samples, _ = soundfile.read(os.path.join(out, rows[0]["path"]))
    frames = samples[: len(samples) // 400 * 400].reshape(-1, 400)
    energy = np.sort((frames ** 2).mean(axis=1))
    assert energy[-len(energy) // 5:].mean() > 5 * energy[: len(energy) // 5].mean()   # loud vs quiet
    assert 0.2 < np.abs(samples).max() <= 1.0


def test_held_out_voices_never_speak_in_training(corpus):
    out, summary, rows = corpus
    with open(os.path.join(out, "voices.json")) as fh:
        assert json.load(fh) == summary
    held, train = set(summary["held_out_speakers"]), set(summary["train_speakers"])
    assert held and train and not held & train
    assert {s.split("+", 1)[1] for s in held} <= set(HELD_OUT_VARIANTS)
    assert not {s.split("+", 1)[1] for s in train} & set(HELD_OUT_VARIANTS)
    assert {r["speaker"] for r in rows} == held | train
    assert summary["test_speakers"] == [f"*+{v}" for v in HELD_OUT_VARIANTS]


def test_same_seed_same_corpus(tmp_path, corpus):
    _, _, rows = corpus
    generate(str(tmp_path / "again"), 30, seed=5)
    with open(tmp_path / "again" / "manifest.csv", newline="") as fh:
        assert list(csv.DictReader(fh)) == rows


def test_channel_copies_are_made_of_held_out_clips_only_and_the_telephone_cuts_above_4_khz(tmp_path):
    out = str(tmp_path / "channels")
    summary = generate(out, 40, seed=5, channels=("telephone", "noisy", "reverberant"))
    with open(os.path.join(out, "manifest.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    clean = [r for r in rows if r["channel"] == "clean"]
    copies = [r for r in rows if r["channel"] != "clean"]
    held = set(summary["held_out_speakers"])
    assert len(clean) == 40 and copies and len(copies) == summary["channel_copies"]
    assert {r["speaker"] for r in copies} <= held
    assert len(copies) == 3 * sum(r["speaker"] in held for r in clean)
    for row in copies:
        if row["channel"] != "telephone":
            continue
        samples, rate = soundfile.read(os.path.join(out, row["path"]))
        original, _ = soundfile.read(os.path.join(out, row["path"].replace("-telephone", "")))
        assert len(samples) == len(original) and rate == 16000
        power = np.abs(np.fft.rfft(samples)) ** 2
        above = np.fft.rfftfreq(len(samples), 1 / rate) > 4000
        assert power[above].sum() < 1e-4 * power.sum()


def test_noise_has_unit_power_and_its_colour():
    rng = np.random.default_rng(0)
    for kind in ("white", "pink", "brown", "hum"):
        assert np.sqrt(np.mean(noise(kind, 16000, 16000, rng) ** 2)) == pytest.approx(1.0, rel=1e-6)
    spectrum = np.abs(np.fft.rfft(noise("brown", 16000, 16000, rng))) ** 2
    assert spectrum[1:200].sum() > 10 * spectrum[2000:4000].sum()


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="--n: must be >= 1"):
        generate(str(tmp_path / "x"), 0)
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        generate(str(tmp_path / "exists"), 3)


def test_cli_without_espeak_says_how_to_install_it(tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable), "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-m", "seqline", "datasets", "spoken-digits",
                           "--out", str(tmp_path / "c"), "--n", "3"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install espeak-ng" in lines[0], done.stderr
    assert not (tmp_path / "c").exists()
