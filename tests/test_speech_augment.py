"""Waveform augmentation (components/tasks/speech/augment.py), one augmentation at a time on an
espeak-ng clip: each is a function of the clip's seed, and each measurably does what it says
(the spectrum above 4 kHz is gone after the telephone line, the SNR is the one drawn, ...).
The Trainer's input (train only, new each epoch) is tested in test_asr_pipeline.py."""
import numpy as np
import pytest
import tensorflow as tf

from seqline.components.tasks.speech.audio_io import resample
from seqline.components.tasks.speech.augment import augment_waveform, is_active
from seqline.corpora.spoken_digits import espeak_binary, synthesize

RATE = 16000
KINDS = ["white", "pink", "brown", "hum"]
OFF = {"speeds": [1.0], "gain_db": 0.0, "noise_prob": 0.0, "noise_kinds": KINDS,
       "noise_snr_db": [0.0, 20.0], "reverb_prob": 0.0, "rt60": [0.2, 0.7], "telephone_prob": 0.0, "codec_prob": 0.0}
DEFAULTS = {"speeds": [0.9, 1.0, 1.1], "gain_db": 6.0, "noise_prob": 0.5, "noise_kinds": KINDS,
            "noise_snr_db": [0.0, 20.0], "reverb_prob": 0.3, "rt60": [0.2, 0.7],
            "telephone_prob": 0.3, "codec_prob": 0.2}


@pytest.fixture(scope="module")
def clip():
    """A clean espeak-ng clip at 16 kHz (no background noise), peaking at 0.4."""
    samples, rate = synthesize(espeak_binary(), "four one nine", "en-us+m1", 160, 50, 2)
    wave = resample(samples, rate, RATE)
    return (0.4 * wave / np.abs(wave).max()).astype(np.float32)


def augmented(wave, seed=0, **on):
    return augment_waveform(tf.constant(wave), {**OFF, **on}, RATE, tf.constant(seed, tf.int64)).numpy()


def band_energy(wave, low, high):
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / RATE)
    return power[(freqs >= low) & (freqs < high)].sum()


def active_rms(wave):
    return np.sqrt(np.mean(wave[np.abs(wave) > 0.02 * np.abs(wave).max()] ** 2))


def test_one_seed_one_augmented_clip_and_another_seed_another(clip):
    wave = tf.constant(clip)
    first = [augment_waveform(wave, DEFAULTS, RATE, tf.constant(s, tf.int64)).numpy() for s in range(6)]
    again = [augment_waveform(wave, DEFAULTS, RATE, tf.constant(s, tf.int64)).numpy() for s in range(6)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in first}) == 6
    assert len({len(a) for a in first}) > 1                     # some clips sped up or slowed down
    np.testing.assert_array_equal(augmented(clip), clip)        # everything off: the clip itself
    assert is_active(DEFAULTS) and not is_active(OFF) and not is_active(None)
    assert all(is_active({**OFF, key: value}) for key, value in (
        ("speeds", [1.0, 1.1]), ("gain_db", 1.0), ("noise_prob", 0.1), ("reverb_prob", 0.1),
        ("telephone_prob", 0.1), ("codec_prob", 0.1)))


def test_telephone_line_removes_everything_outside_300_to_3400_hz(clip):
    phone = augmented(clip, telephone_prob=1.0)
    assert len(phone) == len(clip)
    high, low = band_energy(clip, 4000, RATE / 2), band_energy(clip, 0, 300)
    assert high > 1e-4 * band_energy(clip, 0, RATE / 2)          # the clip has energy up there
    assert band_energy(phone, 3400, RATE / 2) < 1e-6 * high      # ... which the line removes
    assert band_energy(phone, 0, 300) < 1e-6 * low
    assert band_energy(phone, 300, 3400) == pytest.approx(band_energy(clip, 300, 3400), rel=1e-3)


def test_speed_perturbation_changes_length_and_pitch(clip):
    tone = np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE).astype(np.float32)
    for speed in (0.9, 1.1):
        fast = augmented(tone, speeds=[speed])
        assert len(fast) == pytest.approx(RATE / speed, abs=1)
        freqs = np.fft.rfftfreq(len(fast), 1 / RATE)
        assert freqs[np.abs(np.fft.rfft(fast)).argmax()] == pytest.approx(1000 * speed, abs=2)
    assert len(augmented(clip, speeds=[1.1])) == pytest.approx(len(clip) / 1.1, abs=1)


def noise_kind(added):
    """Which noise ``added`` is, from its spectrum: a few mains lines, or a slope of 0, 1/f, 1/f^2."""
    power = np.abs(np.fft.rfft(added)) ** 2
    freqs = np.fft.rfftfreq(len(added), 1 / RATE)
    lines = sum(power[np.abs(freqs - k * base) < 2].sum() for base in (50, 60) for k in (1, 2, 3))
    if lines > 0.9 * power.sum():
        return "hum"
    low_share = power[freqs < 250].sum() / power.sum()
    return ("white" if low_share < 0.1 else "pink" if 0.2 < low_share < 0.7
            else "brown" if low_share > 0.85 else "other")


def test_noise_is_added_at_the_drawn_snr_of_each_kind(clip):
    kinds = []
    for seed in range(16):
        noisy = augmented(clip, seed, noise_prob=1.0, noise_snr_db=[5.0, 5.0])
        assert np.abs(noisy).max() < 1.0                          # not rescaled: noise = difference
        added = noisy - clip
        snr = 20 * np.log10(active_rms(clip) / np.sqrt(np.mean(added ** 2)))
        assert snr == pytest.approx(5.0, abs=0.05)
        kinds.append(noise_kind(added))
    assert set(kinds) == set(KINDS)
    only = {noise_kind(augmented(clip, s, noise_prob=1.0, noise_kinds=["brown", "hum"]) - clip)
            for s in range(6)}
    assert only == {"brown", "hum"}
    snrs = [20 * np.log10(active_rms(clip) / np.sqrt(np.mean((augmented(
        clip, s, noise_prob=1.0, noise_snr_db=[0.0, 20.0]) - clip) ** 2))) for s in range(8)]
    assert 0 <= min(snrs) and max(snrs) <= 20 and max(snrs) - min(snrs) > 5


def test_reverberation_decays_by_60_db_in_the_drawn_rt60(clip):
    click = np.zeros(RATE * 3 // 2, np.float32)
    click[0] = 0.5
    for rt60 in (0.3, 0.6):
        room = augmented(click, reverb_prob=1.0, rt60=[rt60, rt60]).astype(np.float64)
        decay = 10 * np.log10(np.cumsum(room[::-1] ** 2)[::-1] / np.sum(room ** 2))   # Schroeder
        t5, t25 = (np.argmax(decay <= level) / RATE for level in (-5, -25))
        assert 3 * (t25 - t5) == pytest.approx(rt60, rel=0.15)   # T20, extrapolated to 60 dB
    wet = augmented(clip, reverb_prob=1.0, rt60=[0.5, 0.5])
    assert len(wet) == len(clip) and active_rms(wet) == pytest.approx(active_rms(clip), rel=0.05)
    assert np.corrcoef(wet, clip)[0, 1] < 0.9                      # smeared in time


def test_codec_quantizes_to_256_mu_law_levels_and_gain_scales_the_whole_clip(clip):
    coded = augmented(clip, codec_prob=1.0)
    assert len(np.unique(coded)) <= 256 < len(np.unique(clip))
    sqnr = 10 * np.log10(np.sum(clip ** 2) / np.sum((coded - clip) ** 2))
    assert 25 < sqnr < 45                                          # 8-bit mu-law: about 38 dB
    gains = []
    for seed in range(8):
        louder = augmented(clip, seed, gain_db=6.0)
        ratio = louder[np.abs(clip) > 0.01] / clip[np.abs(clip) > 0.01]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)   # one gain for the whole clip
        gains.append(20 * np.log10(ratio[0]))
    assert -6 <= min(gains) < 0 < max(gains) <= 6


def test_probabilities_are_the_share_of_clips_augmented(clip):
    short = clip[: RATE // 2]
    changed = [not np.array_equal(augmented(short, s, telephone_prob=0.3), short) for s in range(200)]
    assert 0.2 < np.mean(changed) < 0.4


def test_config_errors_name_the_key(tmp_path):
    from seqline.pipeline.config import validate_config
    from seqline.pipeline.errors import ConfigError

    (tmp_path / "manifest.csv").write_text("path,transcript,speaker,channel\nclip.wav,one,a,clean\n")

    def check(data=None, **augment):
        validate_config({"name": "x", "task": "asr", "data": {"path": "manifest.csv", **(data or {})},
                         "transform": {"waveform_augment": augment}}, base_dir=str(tmp_path))

    check(data={"condition_columns": ["channel"]}, speeds=[0.8, 1.2], noise_snr_db=[-5, 30])
    for data, augment, message in (
            ({}, {"speeds": [1.0, 3.0]}, r"waveform_augment.speeds: each speed must be in \[0.5, 2\]"),
            ({}, {"speeds": []}, "waveform_augment.speeds: expected a non-empty list of numbers"),
            ({}, {"noise_snr_db": [10, 0]}, r"waveform_augment.noise_snr_db: need -20 <= min <= max"),
            ({}, {"rt60": [0.2]}, "waveform_augment.rt60: expected a list of 2 numbers"),
            ({}, {"noise_kinds": ["white", "traffic"]}, "waveform_augment.noise_kinds: expected "
                                                        "distinct names from white, pink, brown, hum"),
            ({}, {"noise_kinds": []}, "waveform_augment.noise_kinds"),
            ({}, {"telephone_prob": 1.5}, "waveform_augment.telephone_prob"),
            ({"condition_columns": ["room"]}, {}, "data.condition_columns: column 'room' not in"),
            ({"condition_columns": ["channel", "channel"]}, {}, "expected distinct column names")):
        with pytest.raises(ConfigError, match=message):
            check(data, **augment)
