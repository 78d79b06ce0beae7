"""Recording channels applied to finished clips (NumPy/SciPy): the test conditions of the
spoken-digits corpus.

Each channel is ``f(samples, rate, rng) -> samples`` at the same rate and length:

* ``telephone``: down to 8 kHz (anti-aliased), a 300-3400 Hz band-pass (4th-order Butterworth),
  8-bit mu-law (G.711) quantization, and back up to the clip's rate: nothing above 4 kHz survives.
* ``noisy``: white, pink, brown noise or mains hum at an SNR of 0 to 10 dB.
* ``reverberant``: a synthetic room (exponentially decaying noise tail, RT60 0.3 to 0.8 s, after
  a direct path and a few early reflections).

These are written independently of the Trainer's augmentations (``tf.data``), so a test
condition is not the training distribution replayed.
"""
from __future__ import annotations

import numpy as np

TELEPHONE_RATE = 8000
TELEPHONE_BAND = (300.0, 3400.0)
NOISY_SNR_DB = (0.0, 10.0)
RT60_SECONDS = (0.3, 0.8)


def mu_law(samples: np.ndarray, bits: int = 8) -> np.ndarray:
    """Quantize to ``bits``-bit mu-law and back (G.711's companding for 8 bits)."""
    mu = 2 ** bits - 1
    x = np.clip(samples, -1.0, 1.0)
    coded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    coded = np.round((coded + 1) / 2 * mu) / mu * 2 - 1
    return np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu


def telephone(samples: np.ndarray, rate: int, rng=None) -> np.ndarray:
    """A narrow-band telephone line (see the module docstring)."""
    from scipy.signal import butter, sosfiltfilt

    from seqline.components.tasks.speech.audio_io import resample

    narrow = resample(samples, rate, TELEPHONE_RATE).astype(np.float64)
    sos = butter(4, TELEPHONE_BAND, btype="bandpass", fs=TELEPHONE_RATE, output="sos")
    narrow = mu_law(sosfiltfilt(sos, narrow))
    wide = resample(narrow.astype(np.float32), TELEPHONE_RATE, rate)
    return _fit_length(wide, len(samples))


def noisy(samples: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The clip with background noise at a random SNR in :data:`NOISY_SNR_DB`."""
    from seqline.corpora.spoken_digits import NOISE_KINDS, noise

    kind = rng.choice(NOISE_KINDS)
    snr = rng.uniform(*NOISY_SNR_DB)
    active = samples[np.abs(samples) > 0.02 * np.abs(samples).max()] if samples.any() else samples
    rms = np.sqrt(np.mean(active ** 2)) + 1e-12
    return _peak(samples + noise(kind, len(samples), rate, rng) * rms / 10 ** (snr / 20))


def room_impulse(rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: direct path, 3 early reflections, a decaying tail."""
    rt60 = rng.uniform(*RT60_SECONDS)
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3   # -60 dB at rt60
    rir[: int(0.005 * rate)] = 0.0
    rir[0] = 1.0
    for _ in range(3):
        rir[rng.integers(int(0.003 * rate), int(0.03 * rate))] += rng.uniform(0.2, 0.6)
    return rir / np.sqrt(np.sum(rir ** 2))


def reverberant(samples: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The clip in a synthetic room (:func:`room_impulse`)."""
    from scipy.signal import fftconvolve

    return _peak(fftconvolve(samples, room_impulse(rate, rng))[: len(samples)])


def _fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    return np.pad(samples, (0, max(0, n - len(samples))))[:n].astype(np.float32)


def _peak(samples: np.ndarray, target: float = 0.9) -> np.ndarray:
    """Scaled down to peak at ``target`` if it clips."""
    peak = np.abs(samples).max()
    return (samples * (target / peak if peak > target else 1.0)).astype(np.float32)


CHANNELS = {"telephone": telephone, "noisy": noisy, "reverberant": reverberant}
