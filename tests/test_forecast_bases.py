"""The base forecasts a window-relative model corrects, and how the Transform chooses one."""
import numpy as np
import pytest
import tensorflow as tf

from seqline.components.tasks.forecast import graph as forecast_graph
from seqline.components.tasks.forecast import numerics as fm
from seqline.components.tasks.forecast import linear_base
from seqline.components.tasks.forecast.transform import (ForecastMomentsFn, _params, base_errors,
                                                         choose_base, fit_windows)

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


def _errors(series: np.ndarray, splits: list, bases=fm.BASES) -> dict:
    return base_errors(fit_windows(series, splits, L, H), L, H, M, bases)


def _item(series: np.ndarray, splits: list, linear: bool) -> tuple:
    """What one series gives the Analyze combiner."""
    sets = fit_windows(series, splits, L, H)
    moments = {s: linear_base.window_moments(*pair) for s, pair in sets.items()} if linear else {}
    return series[:, None], np.diff(series), base_errors(sets, L, H, M, fm.BASES), moments


def _accumulate(series: np.ndarray, splits: list, linear: bool = False) -> dict:
    combine = ForecastMomentsFn(1, list(fm.BASES), (L, H) if linear else None)
    acc = combine.add_input(combine.create_accumulator(), _item(series, splits, linear))
    return combine.extract_output(acc)


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
    full = _errors(series, splits, ["naive"])["train/naive"]
    series[50] = np.nan
    gap = _errors(series, splits, ["naive"])["train/naive"]
    assert gap[1] == full[1] - (L + H) * H and np.isfinite(gap[0])


def _ar2(n: int, seed: int, noise: float = 0.3) -> np.ndarray:
    """A damped oscillation (AR(2), period about 9 steps, no whole season of 12): a linear map
    of the window forecasts it far better than any fixed base."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 1.3 * y[t - 1] - 0.9 * y[t - 2] + rng.normal(0, noise)
    return y + 50


SPLITS = ["train"] * 700 + ["eval"] * 150 + ["test"] * 150
BASE = {"feature_columns": ["a"], "target_column": "a", "log_returns": [False], "lookback": L,
        "horizon": H, "normalization": "window", "seasonal_period": M, "quantiles": None}


def _fitted(series: np.ndarray) -> fm.ForecastParams:
    return fm.ForecastParams(**_params(_accumulate(series, SPLITS, linear=True), BASE, "standard",
                                       {"a": 1.0}))


def test_a_linear_base_is_fitted_and_chosen_where_it_beats_the_fixed_bases():
    p = _fitted(_ar2(1000, 4))
    assert p.base == "linear"
    weights = np.asarray(p.linear_weights)
    assert weights.shape == (L, H)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)   # a shifted window: a shifted forecast
    windows, future = _windows(_ar2(600, 5))               # a new stretch of the process
    fixed = min(np.abs(_forecast(b, windows) - future).mean() for b in fm.BASES)
    assert np.abs(fm.base_forecast(windows[:, :, None], p) - future).mean() < 0.7 * fixed
    linear = p.base_selection["linear"]
    assert min(linear["mse"].values()) < linear["mse"]["fixed"]


def test_the_fixed_base_stays_when_the_linear_fit_loses_on_the_eval_split():
    """Train on the oscillation, then an eval split of pure seasonal noise: the fit does not
    carry over, so the eval split keeps the fixed base."""
    t = np.arange(1000)
    series = _ar2(1000, 6)
    rng = np.random.default_rng(7)
    series[700:] = 50 + 5 * np.sin(2 * np.pi * t[700:] / M) + rng.normal(0, 0.3, 300)
    p = _fitted(series)
    assert p.base in fm.BASES and p.linear_weights is None
    assert min(p.base_selection["linear"]["mse"].values()) == p.base_selection["linear"]["mse"]["fixed"]


def test_the_fit_is_the_same_whatever_order_the_series_come_in():
    items = [_item(_ar2(1000, seed), SPLITS, linear=True) for seed in (8, 9, 10)]
    combine = ForecastMomentsFn(1, list(fm.BASES), (L, H))

    def combined(groups):
        accs = []
        for group in groups:
            acc = combine.create_accumulator()
            for i in group:
                acc = combine.add_input(acc, items[i])
            accs.append(acc)
        return combine.extract_output(combine.merge_accumulators(accs))["window_moments"]

    one, other = combined([[0, 1, 2]]), combined([[2], [1, 0]])
    for split in ("train", "eval"):
        for key in linear_base.MOMENTS:
            assert np.array_equal(np.asarray(one[split][key]), np.asarray(other[split][key]))
    fixed = fm.base_weights("naive", L, H, M)
    assert np.array_equal(linear_base.fit(one["train"], one["eval"], fixed)["weights"],
                          linear_base.fit(other["train"], other["eval"], fixed)["weights"])


def test_no_eval_windows_no_linear_base():
    fixed = fm.base_weights("naive", L, H, M)
    train = linear_base.window_moments(*_windows(_ar2(300, 9)))
    assert linear_base.fit(train, linear_base.empty_moments(L, H), fixed) is None


@pytest.mark.parametrize("base", fm.BASES + ("linear",))
def test_numpy_and_graph_agree_on_every_base(base):
    rng = np.random.default_rng(3)
    weights = rng.normal(0, 0.1, (L, H))
    weights[-1] += 1 - weights.sum(axis=0)
    params = fm.ForecastParams(["a"], "a", [False], [0.0], [1.0], lookback=L, horizon=H,
                               mase_scale=1.0, normalization="window", spread_floor=[0.1],
                               base=base, seasonal_period=M,
                               linear_weights=weights.tolist() if base == "linear" else None)
    raw = (rng.normal(size=(8, L, 1)).cumsum(axis=1) + 20).astype(np.float32)
    raw[0, 5:9, 0] = np.nan
    future = rng.normal(size=(8, H)) + 20
    y = fm.transform_target(raw, future, params)
    module = forecast_graph.ForecastTransform(params)
    np.testing.assert_allclose(module.inverse(tf.constant(y), tf.constant(raw)).numpy(), future,
                               rtol=1e-5)
    np.testing.assert_allclose(fm.inverse(np.zeros((8, H)), raw, params),
                               fm.base_forecast(fm.fill_missing(raw), params))
