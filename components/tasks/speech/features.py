"""Speech features with ``tf.signal``: log-mel spectrograms or MFCCs, SpecAugment, and the
transform graph (raw waveform -> normalized features; label ids -> text) that the exported model
embeds.

The Transform's Beam workers call the same :class:`FeatureExtractor`, so the features a model is
trained on and those it is served with come from one implementation; a test checks that the saved
graph reproduces the Beam-written features.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import tensorflow as tf

LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class FeatureParams:
    """How to turn a waveform into frames of features (the ``transform`` section + sample rate)."""

    sample_rate: int
    features: str = "log_mel"
    n_mels: int = 40
    n_mfcc: int = 13
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    fmin: float = 20.0
    fmax: float | None = None

    @property
    def frame_length(self) -> int:
        return int(round(self.sample_rate * self.frame_ms / 1000))

    @property
    def frame_step(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def fft_length(self) -> int:
        return 1 << (self.frame_length - 1).bit_length()

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.features == "mfcc" else self.n_mels

    def frames(self, samples: int) -> int:
        """Feature frames of a clip of ``samples`` samples (the last frame is zero-padded)."""
        return -(-samples // self.frame_step)

    def to_json(self) -> dict:
        return asdict(self)


class FeatureExtractor(tf.Module):
    """``extract(waveform [samples])`` -> unnormalized features ``[frames, n_features]``."""

    def __init__(self, p: FeatureParams):
        super().__init__()
        self.p = p
        self.mel = tf.signal.linear_to_mel_weight_matrix(
            p.n_mels, p.fft_length // 2 + 1, p.sample_rate, p.fmin, p.fmax or p.sample_rate / 2)
        self.extract = tf.function(self._extract, input_signature=[
            tf.TensorSpec([None], tf.float32, name="waveform")])

    def _extract(self, waveform):
        stft = tf.signal.stft(waveform, self.p.frame_length, self.p.frame_step, self.p.fft_length,
                              pad_end=True)
        power = tf.math.square(tf.abs(stft))
        log_mel = tf.math.log(tf.matmul(power, self.mel) + LOG_FLOOR)
        if self.p.features == "mfcc":
            return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[:, :self.p.n_mfcc]
        return log_mel


class AudioTransform(tf.Module):
    """The transform graph: ``features(waveform)`` -> normalized ``[frames, n_features]`` (train
    statistics) and ``detokenize(ids [batch, steps])`` -> ``[batch]`` strings."""

    def __init__(self, p: FeatureParams, mean, std, vocabulary):
        super().__init__()
        self.extractor = FeatureExtractor(p)
        self.mean = tf.constant(mean, tf.float32)
        self.std = tf.constant(std, tf.float32)
        self.chars = tf.constant([""] + list(vocabulary))
        self.features = tf.function(self._features, input_signature=[
            tf.TensorSpec([None], tf.float32, name="waveform")])
        self.detokenize = tf.function(self._detokenize, input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="ids")])

    def _features(self, waveform):
        return (self.extractor.extract(waveform) - self.mean) / self.std

    def _detokenize(self, ids):
        ids = tf.where((ids < 0) | (ids >= tf.size(self.chars)), 0, ids)
        return tf.strings.reduce_join(tf.gather(self.chars, ids), axis=-1)


def save(p: FeatureParams, mean, std, vocabulary, path: str) -> None:
    """Export the transform graph as a SavedModel with ``features`` and ``detokenize`` signatures."""
    module = AudioTransform(p, mean, std, vocabulary)
    tf.saved_model.save(module, path, signatures={"features": module.features,
                                                   "detokenize": module.detokenize})


def spec_augment(features, cfg: dict, seed):
    """SpecAugment (Park et al., 2019) without time warping: ``freq_masks`` bands of up to
    ``freq_width`` channels and ``time_masks`` spans of up to ``time_width`` frames set to 0 (the
    train mean, after normalization). The masks are a function of ``seed`` (an int64 scalar):
    stateless draws, the same whichever thread runs them."""
    frames, channels = tf.shape(features)[0], tf.shape(features)[1]
    keep = tf.ones_like(features, dtype=tf.bool)
    draws = itertools.count()

    def uniform(low, high):   # an int in [low, high), the next draw of this clip's seed
        key = tf.stack([tf.cast(seed, tf.int64), tf.constant(next(draws), tf.int64)])
        return tf.random.stateless_uniform([], key, low, high, tf.int32)

    for axis, count, width, size in ((1, cfg["freq_masks"], cfg["freq_width"], channels),
                                     (0, cfg["time_masks"], cfg["time_width"], frames)):
        positions = tf.range(size)
        for _ in range(count):
            w = uniform(0, tf.minimum(width, size) + 1)
            start = uniform(0, size - w + 1)
            band = (positions >= start) & (positions < start + w)
            keep &= ~(band[None, :] if axis == 1 else band[:, None])
    return tf.where(keep, features, tf.zeros_like(features))
