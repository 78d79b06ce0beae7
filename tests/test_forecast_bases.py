"""The base forecasts a window-relative model corrects, and how the Transform chooses one."""
import numpy as np
import pytest
import tensorflow as tf

from seqline.components.tasks.forecast import graph as forecast_graph
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.forecast.transform import ForecastMomentsFn, base_errors, choose_base

L, H, M = 36, 12, 12


def _windows(series: np.ndarray) -> tuple:
    ends = np.arange(L - 1, len(series) - H)
    return (np.stack([series[e - L + 1:e + 1] for e in ends]),
            np.stack([series[e + 1:e + 1 + H] for e in ends]))


def _forecast(base: str, windows: np.ndarray) -> np.ndarray:
    return windows @ fm.base_weights(base, L, H, M)


def test_naive_and_seasonal_naive_repeat_the_values_they_name():
    windows, _ = _windows(np.random.default_rng(0).normal(size=120).cumsum())
    np.testing.assert_allclose(_forecast("naive", windows), np.repeat(windows[:, -1:], H, 1))
    np.testing.assert_allclose(_forecast("seasonal_naive", windows), windows[:, L - M:])
    two_seasons = windows @ fm.base_weights("seasonal_naive", L, 2 * M, M)
    np.testing.assert_allclose(two_seasons, np.tile(windows[:, L - M:], 2))


def test_seasonal_mean_averages_away_noise_and_keeps_up_with_a_trend():
    t = np.arange(600)
    season = 10 * np.sin(2 * np.pi * t / M) + 3 * (t % M == 11)
    noisy_w, noisy_f = _windows(season + np.random.default_rng(1).normal(0, 2, len(t)))
    error = {b: np.abs(_forecast(b, noisy_w) - noisy_f).mean() for b in fm.BASES}
    assert error["seasonal_mean"] < 0.9 * error["seasonal_naive"] < 0.9 * error["naive"]
    # a straight trend moves every season alike: the re-levelled mean equals seasonal-naive
    trend_w, _ = _windows(season + 0.5 * t)
    np.testing.assert_allclose(_forecast("seasonal_mean", trend_w),
                               _forecast("seasonal_naive", trend_w), atol=1e-9)


def test_candidates_need_a_season_and_two_of_them_for_the_mean():
    assert fm.candidate_bases(30, 1) == ["naive"]
    assert fm.candidate_bases(30, 24) == ["naive", "seasonal_naive"]
    assert fm.candidate_bases(36, 12) == list(fm.BASES)


def _accumulate(series: np.ndarray, splits: list) -> dict:
    combine = ForecastMomentsFn(1, list(fm.BASES))
    item = (series[:, None], np.diff(series), base_errors(series, splits, L, H, M, fm.BASES))
    return combine.extract_output(combine.add_input(combine.create_accumulator(), item))


def test_the_base_with_the_lowest_eval_error_is_chosen_and_the_train_split_is_the_fallback():
    t = np.arange(400)
    rng = np.random.default_rng(2)
    # train: a season that shifts, no noise (the last season is best); then a stable, noisy one
    phase = 0.02 * np.minimum(t, 300)
    series = 10 * np.sin(2 * np.pi * t / M + phase) + (t >= 300) * 3.0 * rng.normal(size=400)
    splits = ["train"] * 300 + ["eval"] * 50 + ["test"] * 50
    chosen = choose_base(_accumulate(series, splits), list(fm.BASES))
    assert chosen["split"] == "eval" and chosen["base"] == "seasonal_mean"
    assert set(chosen["mae"]) == set(fm.BASES)
    no_eval = choose_base(_accumulate(series[:300], splits[:300]), list(fm.BASES))
    assert no_eval["split"] == "train" and no_eval["base"] == "seasonal_naive"


def test_windows_with_a_missing_value_are_left_out():
    series = np.sin(np.arange(100.0))
    splits = ["train"] * 100
    full = base_errors(series, splits, L, H, M, ["naive"])["train/naive"]
    series[50] = np.nan
    gap = base_errors(series, splits, L, H, M, ["naive"])["train/naive"]
    assert gap[1] == full[1] - (L + H) * H and np.isfinite(gap[0])


@pytest.mark.parametrize("base", fm.BASES)
def test_numpy_and_graph_agree_on_every_base(base):
    rng = np.random.default_rng(3)
    params = fm.ForecastParams(["a"], "a", [False], [0.0], [1.0], lookback=L, horizon=H,
                               mase_scale=1.0, normalization="window", spread_floor=[0.1],
                               base=base, seasonal_period=M)
    raw = (rng.normal(size=(8, L, 1)).cumsum(axis=1) + 20).astype(np.float32)
    raw[0, 5:9, 0] = np.nan
    future = rng.normal(size=(8, H)) + 20
    y = fm.transform_target(raw, future, params)
    module = forecast_graph.ForecastTransform(params)
    np.testing.assert_allclose(module.inverse(tf.constant(y), tf.constant(raw)).numpy(), future,
                               rtol=1e-5)
    np.testing.assert_allclose(fm.inverse(np.zeros((8, H)), raw, params),
                               fm.base_forecast(fm.fill_missing(raw), params))
