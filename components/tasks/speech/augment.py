"""Waveform augmentation in the ``tf.data`` graph: speed, room, noise, telephone line, codec,
gain — applied to train clips before their features are computed.

Every draw is a stateless function of one int64 seed per clip (like :func:`spec_augment`), so a
run is reproducible although clips are augmented in parallel; the Trainer's input draws the
clips' seeds anew each epoch. ``cfg`` is the ``transform.waveform_augment`` section:

* ``speeds``: the clip is resampled (linear interpolation) to play at one of these speeds
  (Ko et al., 2015: 0.9 / 1.0 / 1.1), changing its length and pitch.
* ``reverb_prob``: convolved with a synthetic room impulse response (decaying noise, RT60 drawn
  from ``rt60``).
* ``noise_prob``: background noise of one of ``noise_kinds`` (white; pink, 1/f power; brown,
  1/f^2; mains hum at 50 or 60 Hz with two harmonics) added at an SNR drawn from ``noise_snr_db``.
* ``telephone_prob``: band-passed to 300-3400 Hz (nothing above 4 kHz: an 8 kHz line).
* ``codec_prob``: 8-bit mu-law quantization (G.711).
* ``gain_db``: scaled by a gain drawn from [-gain_db, +gain_db] dB.
"""
from __future__ import annotations

import math

import tensorflow as tf

from seqline.corpora.spoken_digits import NOISE_KINDS

TELEPHONE_BAND = (300.0, 3400.0)
MU = 255.0


class Draws:
    """Successive stateless uniform draws from one clip's seed."""

    def __init__(self, seed, offset: int = 1000):
        self.seed, self.n = tf.cast(seed, tf.int64), offset

    def key(self):
        self.n += 1
        return tf.stack([self.seed, tf.constant(self.n, tf.int64)])

    def uniform(self, low=0.0, high=1.0):
        return tf.random.stateless_uniform([], self.key(), low, high)


def speed(wave, factor):
    """``wave`` played ``factor`` times faster (length divided by ``factor``)."""
    n = tf.shape(wave)[0]
    out = tf.maximum(tf.cast(tf.math.floor(tf.cast(n - 1, tf.float32) / factor), tf.int32) + 1, 1)
    pos = tf.cast(tf.range(out), tf.float32) * factor
    left = tf.minimum(tf.cast(tf.math.floor(pos), tf.int32), n - 1)
    right = tf.minimum(left + 1, n - 1)
    frac = pos - tf.cast(left, tf.float32)
    return tf.gather(wave, left) * (1 - frac) + tf.gather(wave, right) * frac


def _smooth_sizes(limit: int = 1 << 24) -> list:
    """The 7-smooth numbers (no prime factor above 7) up to ``limit``, sorted: FFT lengths that
    TensorFlow transforms several times faster than lengths with a large prime factor."""
    sizes = [1]
    for prime in (2, 3, 5, 7):
        sizes = [v * prime ** k for v in sizes for k in range(40) if v * prime ** k <= limit]
    return sorted(set(sizes))


FAST_SIZES = _smooth_sizes()


def fast_size(n):
    """The smallest 7-smooth length >= ``n`` (a scalar int32 tensor)."""
    table = tf.constant(FAST_SIZES, tf.int32)
    return tf.gather(table, tf.searchsorted(table, tf.reshape(n, [1]))[0])


def _fft_filter(wave, gains_of, size=None):
    """``wave`` with its spectrum multiplied by ``gains_of(bin frequencies in cycles/sample)``:
    circularly, or zero-padded to ``size`` and cut back (faster for a fast ``size``; the cut
    leaks a little energy outside the pass band)."""
    n = tf.shape(wave)[0]
    size = n if size is None else size
    spectrum = tf.signal.rfft(wave, [size])
    freqs = tf.cast(tf.range(tf.shape(spectrum)[0]), tf.float32) / tf.cast(size, tf.float32)
    return tf.signal.irfft(spectrum * tf.cast(gains_of(freqs), tf.complex64), [size])[:n]


def telephone(wave, rate: int):
    """Only the 300-3400 Hz band kept (an ideal band-pass; nothing above 4 kHz)."""
    low, high = (f / rate for f in TELEPHONE_BAND)
    return _fft_filter(wave, lambda f: tf.cast((f >= low) & (f <= high), tf.float32))


def mu_law(wave):
    """8-bit mu-law quantization and back."""
    x = tf.clip_by_value(wave, -1.0, 1.0)
    coded = tf.sign(x) * tf.math.log1p(MU * tf.abs(x)) / math.log1p(MU)
    coded = tf.round((coded + 1) / 2 * MU) / MU * 2 - 1
    return tf.sign(coded) * tf.math.expm1(tf.abs(coded) * math.log1p(MU)) / MU


def _rms(wave):
    loud = tf.abs(wave) > 0.02 * tf.reduce_max(tf.abs(wave))
    return tf.sqrt(tf.reduce_mean(tf.square(tf.boolean_mask(wave, loud))) + 1e-12)


def _colored(n, exponent: float, key):
    """Unit-variance Gaussian noise with power falling as ``1/f**exponent`` (0 white, 1 pink, 2 brown)."""
    noise = tf.random.stateless_normal([n], key)
    if not exponent:
        return noise
    return _fft_filter(noise, lambda f: tf.maximum(f, 1e-3) ** (-exponent / 2), fast_size(n))


def _hum(n, rate: int, key):
    """Mains hum: 50 or 60 Hz and its 2nd and 3rd harmonics (amplitude 1/k, random phases), with a
    faint hiss."""
    draws = tf.random.stateless_uniform([4], key)
    base = tf.where(draws[0] < 0.5, 50.0, 60.0)
    t = tf.cast(tf.range(n), tf.float32) / rate
    tone = tf.add_n([tf.sin(2 * math.pi * base * k * t + 2 * math.pi * draws[k]) / k for k in (1, 2, 3)])
    return tone + 0.05 * tf.random.stateless_normal([n], key + 1)


NOISE = dict(zip(NOISE_KINDS, (lambda n, rate, key: _colored(n, 0, key),
                               lambda n, rate, key: _colored(n, 1, key),
                               lambda n, rate, key: _colored(n, 2, key), _hum)))


def add_noise(wave, snr_db, kinds, kind, rate: int, key):
    """Noise of ``kinds[kind]`` (names in :data:`NOISE_KINDS`) at ``snr_db`` below the clip's
    active RMS."""
    n = tf.shape(wave)[0]
    branches = [lambda name=name: NOISE[name](n, rate, key) for name in kinds]
    noise = tf.switch_case(kind, branches) if len(branches) > 1 else branches[0]()
    noise = noise / tf.sqrt(tf.reduce_mean(tf.square(noise)) + 1e-12)
    return wave + noise * _rms(wave) / 10 ** (snr_db / 20)


def reverberate(wave, rate: int, rt60, max_rt60: float, key):
    """``wave`` convolved with a room impulse response: a direct path, then noise decaying by
    60 dB in ``rt60`` seconds; the output keeps the input's length and active RMS."""
    m = int(max_rt60 * rate)
    t = tf.range(m, dtype=tf.float32) / rate
    tail = tf.random.stateless_normal([m], key) * tf.exp(-6.9 * t / rt60) * 0.3
    rir = tf.concat([[1.0], tf.zeros([int(0.005 * rate) - 1]), tail[int(0.005 * rate):]], 0)
    n = tf.shape(wave)[0]
    size = fast_size(n + m)
    wet = tf.signal.irfft(tf.signal.rfft(wave, [size]) * tf.signal.rfft(rir, [size]), [size])[:n]
    return wet * _rms(wave) / _rms(wet)


def augment_waveform(wave, cfg: dict, rate: int, seed):
    """One augmented copy of ``wave`` (float32 ``[samples]``), a function of ``seed`` only."""
    d = Draws(seed)

    def maybe(prob, fn, x):
        return tf.cond(d.uniform() < prob, lambda: fn(x), lambda: x) if prob > 0 else x

    speeds = tf.constant(cfg["speeds"], tf.float32)
    pick = tf.random.stateless_uniform([], d.key(), 0, len(cfg["speeds"]), tf.int32)
    wave = speed(wave, speeds[pick])
    rt60, snr = d.uniform(*cfg["rt60"]), d.uniform(*cfg["noise_snr_db"])
    kinds = cfg["noise_kinds"]
    kind = tf.random.stateless_uniform([], d.key(), 0, len(kinds), tf.int32)
    room, noise_key = d.key(), d.key()
    wave = maybe(cfg["reverb_prob"], lambda x: reverberate(x, rate, rt60, cfg["rt60"][1], room), wave)
    wave = maybe(cfg["noise_prob"], lambda x: add_noise(x, snr, kinds, kind, rate, noise_key), wave)
    wave = maybe(cfg["telephone_prob"], lambda x: telephone(x, rate), wave)
    wave = wave * 10 ** (d.uniform(-cfg["gain_db"], cfg["gain_db"]) / 20)
    peak = tf.reduce_max(tf.abs(wave))
    wave = tf.where(peak > 1.0, wave / peak, wave)
    return maybe(cfg["codec_prob"], mu_law, wave)


def is_active(cfg: dict | None) -> bool:
    """Whether the section changes anything."""
    return bool(cfg) and (any(s != 1.0 for s in cfg["speeds"]) or cfg["gain_db"] > 0 or any(
        cfg[k] > 0 for k in ("reverb_prob", "noise_prob", "telephone_prob", "codec_prob")))
