"""A spoken-digits corpus synthesized offline with espeak-ng.

Each clip says 3 to 7 digits as words ("four one nine") with one voice — an English accent
(``en-us``, ``en-gb``, ``en-gb-scotland``, ...) combined with a voice variant (``m1``..``m8``,
``f1``..``f5``, ``klatt``, ``Annie``, ...) — at a random speed, pitch and word gap, with random
leading/trailing silence and background noise (white, pink, brown or mains hum) at a random SNR,
resampled to 16 kHz mono 16-bit WAV.

A speaker is one accent+variant pair. The variants in :data:`HELD_OUT_VARIANTS` never speak in
training: every clip of theirs is meant for the test split, so the test measures speaker-independent
accuracy. ``manifest.csv`` lists ``path, transcript, speaker, duration, channel``; ``voices.json`` lists the
training and held-out speakers and the ``data.test_speakers`` patterns that select the latter.

With ``channels`` (see :mod:`seqline.corpora.channels`), every held-out clip also gets one copy per
channel (``clips/000123-telephone.wav``, same transcript and speaker); the manifest's ``channel``
column says which (``clean`` for the originals), so the test split is scored per condition.

Example:
    >>> summary = generate("data/spoken_digits", n=200, seed=0)
    >>> summary["test_speakers"]
    ['*+m3', '*+f4', '*+klatt3', '*+Andy', '*+steph', '*+edward']
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from seqline.components.tasks.speech.audio_io import resample, write_wav
from seqline.corpora.channels import CHANNELS
from seqline.pipeline.errors import ConfigError, SeqlineError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "aunty",
            "benjamin", "caleb", "david", "ed", "edward", "grandma", "grandpa", "Jacky", "john",
            "Lee", "linda", "max", "Michael", "norbert", "paul", "quincy", "robert", "shelby",
            "steph", "travis", "victor", "zac")
HELD_OUT_VARIANTS = ("m3", "f4", "klatt3", "Andy", "steph", "edward")
INSTALL_HINT = ("espeak-ng is not installed; install it with `apt-get install espeak-ng` "
                "(Debian/Ubuntu) or `brew install espeak-ng` (macOS)")


NOISE_KINDS = ("white", "pink", "brown", "hum")   # background noises, see noise()

def espeak_binary() -> str:
    """The espeak-ng executable, or a one-line error saying how to install it."""
    found = shutil.which("espeak-ng")
    if not found:
        raise SeqlineError(INSTALL_HINT)
    return found


def available_voices(binary: str) -> tuple:
    """``(accents, variants)`` of this corpus that the installed espeak-ng has."""
    def listing(arg: str) -> set:
        out = subprocess.run([binary, f"--voices={arg}"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
        names = set()
        for line in out:
            cells = line.split()
            if len(cells) >= 5:
                names.add(cells[1])
                names.add(cells[4].rsplit("/", 1)[-1])
        return names

    langs, variants = listing("en"), listing("variant")
    return (tuple(a for a in ACCENTS if a in langs), tuple(v for v in VARIANTS if v in variants))


def speaker_name(accent: str, variant: str) -> str:
    return f"{accent}+{variant}"


def digit_string(rng: random.Random) -> str:
    """3 to 7 digits as words, e.g. ``"four one nine"``."""
    return " ".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 7)))


def noise(kind: str, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS background noise: ``white``, ``pink`` (1/f), ``brown`` (1/f^2) or mains ``hum``."""
    if kind == "hum":
        t = np.arange(n) / rate
        base = rng.choice([50.0, 60.0])
        out = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
        out = out + 0.05 * rng.standard_normal(n)
    else:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.maximum(np.fft.rfftfreq(n, 1 / rate), 1.0)
        power = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
        out = np.fft.irfft(spectrum / freqs ** power, n)
    return out / (np.sqrt(np.mean(out ** 2)) + 1e-12)


def synthesize(binary: str, text: str, voice: str, speed: int, pitch: int, gap: int) -> tuple:
    """espeak-ng's waveform of ``text``: ``(float32 samples, sample rate)``."""
    import soundfile

    done = subprocess.run([binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap),
                           "--stdout", text], capture_output=True, check=True)
    # espeak-ng streams the WAV with placeholder lengths in its header; libsndfile reads to the end
    samples, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32")
    return samples, rate


def make_clip(binary: str, spec: dict, rate: int) -> float:
    """Synthesize one clip described by ``spec`` into ``spec['file']``, and its copies through
    ``spec['channels']``; return its duration."""
    rng = np.random.default_rng(spec["seed"])
    speech, found = synthesize(binary, spec["transcript"], spec["speaker"], spec["speed"],
                               spec["pitch"], spec["gap"])
    speech = resample(speech, found, rate)
    speech_rms = np.sqrt(np.mean(speech ** 2)) + 1e-12
    lead, tail = (np.zeros(int(rng.uniform(0.05, 0.4) * rate), np.float32) for _ in range(2))
    speech = np.concatenate([lead, speech, tail])
    # the SNR is the speech's RMS (silence excluded) over the noise's, in dB
    mixed = speech + noise(spec["noise"], len(speech), rate, rng) * speech_rms / 10 ** (spec["snr_db"] / 20)
    mixed *= rng.uniform(0.3, 0.9) / max(np.abs(mixed).max(), 1e-6)
    write_wav(spec["file"], mixed, rate)
    for i, channel in enumerate(spec.get("channels", ())):
        copy = CHANNELS[channel](mixed, rate, np.random.default_rng([spec["seed"], i]))
        write_wav(channel_file(spec["file"], channel), copy, rate)
    return len(mixed) / rate


def channel_file(name: str, channel: str) -> str:
    """``clips/000123.wav`` -> ``clips/000123-telephone.wav``."""
    root, ext = os.path.splitext(name)
    return f"{root}-{channel}{ext}"


def plan(n: int, seed: int, accents: tuple, variants: tuple, snr: tuple) -> list:
    """The random choices of ``n`` clips (no audio yet), reproducible from ``seed``."""
    rng = random.Random(seed)
    speakers = [speaker_name(a, v) for a in accents for v in variants]
    clips = []
    for i in range(n):
        clips.append({
            "name": f"clips/{i:06d}.wav", "transcript": digit_string(rng),
            "speaker": rng.choice(speakers), "speed": rng.randint(130, 210),
            "pitch": rng.randint(20, 80), "gap": rng.randint(0, 6),
            "noise": rng.choice(NOISE_KINDS),
            "snr_db": round(rng.uniform(*snr), 1), "seed": rng.randrange(2 ** 31)})
    return clips


def generate(out: str, n: int, seed: int = 0, rate: int = 16000, snr: tuple = (10.0, 30.0),
             workers: int = 2, progress=None, channels: tuple = ()) -> dict:
    """Write ``n`` clips, ``manifest.csv`` and ``voices.json`` into the new folder ``out``;
    ``channels`` names the copies each held-out clip gets (keys of
    :data:`~seqline.corpora.channels.CHANNELS`).

    Everything is written to ``<out>.tmp-<pid>`` and renamed at the end, so a failed run leaves
    no half-written corpus. ``progress(done, total)`` is called after each clip.
    """
    if n < 1:
        raise ConfigError(f"--n: must be >= 1, got {n}")
    if snr[0] > snr[1]:
        raise ConfigError(f"--snr: minimum {snr[0]} is above maximum {snr[1]}")
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise ConfigError(f"--channels: unknown channel {unknown[0]!r} (choose from "
                          f"{', '.join(CHANNELS)})")
    channels = tuple(dict.fromkeys(channels))    # each once, in the order given
    if os.path.exists(out):
        raise ConfigError(f"--out: {out} already exists; remove it or choose another folder")
    binary = espeak_binary()
    accents, variants = available_voices(binary)
    held_out = [v for v in HELD_OUT_VARIANTS if v in variants]
    if not accents or len(variants) - len(held_out) < 4 or not held_out:
        raise SeqlineError(f"{binary} has too few English voices and variants "
                           f"(found accents {list(accents)}, variants {list(variants)})")
    tmp = f"{os.path.abspath(out).rstrip(os.sep)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "clips"))
    clips = plan(n, seed, accents, variants, snr)
    for clip in clips:
        clip["file"] = os.path.join(tmp, clip["name"])
        if clip["speaker"].split("+", 1)[1] in held_out:
            clip["channels"] = channels
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            durations = []
            for i, duration in enumerate(pool.map(lambda c: make_clip(binary, c, rate), clips), 1):
                durations.append(duration)
                if progress:
                    progress(i, n)
        with open(os.path.join(tmp, "manifest.csv"), "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "transcript", "speaker", "duration", "channel"])
            for clip, duration in zip(clips, durations):
                for channel in ("clean", *clip.get("channels", ())):
                    name = clip["name"] if channel == "clean" else channel_file(clip["name"], channel)
                    writer.writerow([name, clip["transcript"], clip["speaker"], f"{duration:.3f}",
                                     channel])
        speakers = sorted({c["speaker"] for c in clips})
        test = [s for s in speakers if s.split("+", 1)[1] in held_out]
        summary = {
            "clips": n, "seed": seed, "sample_rate": rate, "snr_db": list(snr),
            "channels": list(channels),
            "channel_copies": sum(len(c.get("channels", ())) for c in clips),
            "hours": round(sum(durations) / 3600, 3),
            "train_speakers": [s for s in speakers if s not in test], "held_out_speakers": test,
            "held_out_variants": held_out, "test_speakers": [f"*+{v}" for v in held_out],
            "accents": list(accents), "variants": list(variants)}
        with open(os.path.join(tmp, "voices.json"), "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary
