"""The inferred seasonal period, the classical seasonal indices and the AutoETS reference."""
import csv

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqline.components.tasks.forecast.reference import auto_ets, seasonal_indices
from seqline.components.tasks.forecast.season import (CALENDAR, infer_seasonal_period,
                                                      period_for_steps)
from tests.forecast_fixtures import MSFT, ROOT

EXAMPLES = f"{ROOT}/examples"


@pytest.mark.parametrize("path, column, period", [
    (MSFT, "Date", 5),
    (f"{EXAMPLES}/electricity_forecast/data/taylor_electricity.csv", "time", 48),
    (f"{EXAMPLES}/air_passengers_forecast/data/airpassengers_monthly.csv", "month", 12),
])
def test_the_period_of_each_real_example_follows_its_calendar(path, column, period):
    found, how = infer_seasonal_period(path, column, None, None)
    assert found == period
    assert how.startswith("inferred from")


def test_irregular_or_unknown_steps_give_no_season(tmp_path):
    path = tmp_path / "odd.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t", "v"])
        for i in range(20):
            writer.writerow([f"2020-01-01 00:{i * 2:02d}:00", i])      # every 2 minutes
    assert infer_seasonal_period(str(path), "t", None, None)[0] == 1
    assert period_for_steps([], set())[0] == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1, max_value=1e9, allow_nan=False), min_size=1, max_size=50),
       st.sets(st.integers(0, 6)))
def test_any_steps_give_a_known_period_and_a_reason(steps, weekdays):
    period, how = period_for_steps(steps, weekdays)
    assert period in {1, 5} | {c[2] for c in CALENDAR}
    assert how


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(3, 8), st.integers(0, 1000))
def test_seasonal_indices_recover_a_pure_season_on_a_trend(period, cycles, seed):
    rng = np.random.default_rng(seed)
    season = rng.normal(size=period)
    season -= season.mean()
    t = np.arange(period * cycles)
    y = 0.3 * t + season[t % period]
    np.testing.assert_allclose(seasonal_indices(y, period), season, atol=1e-9)


def test_auto_ets_forecasts_every_origin_without_refitting_and_beats_seasonal_naive():
    y = np.loadtxt(f"{EXAMPLES}/air_passengers_forecast/data/airpassengers_monthly.csv",
                   delimiter=",", skiprows=1, usecols=1)
    n, h = 110, 12
    ends = list(range(n - 1, len(y) - h))
    ets = auto_ets(y, n, ends, h, 12)
    actual = np.stack([y[e + 1:e + 1 + h] for e in ends])
    seasonal = np.stack([y[e - 11:e + 1] for e in ends])
    assert ets.shape == (len(ends), h)
    assert np.abs(actual - ets).mean() < np.abs(actual - seasonal).mean()
    # Later data never changes an earlier origin's forecast: the fit uses the first n rows only.
    changed = y.copy()
    changed[n + 5:] *= 2
    np.testing.assert_allclose(auto_ets(changed, n, ends[:5], h, 12), ets[:5])


def test_a_season_longer_than_ets_allows_is_adjusted_first():
    y = np.loadtxt(f"{EXAMPLES}/electricity_forecast/data/taylor_electricity.csv",
                   delimiter=",", skiprows=1, usecols=1)
    n, h = 48 * 28, 48
    ends = list(range(n - 1, n + 48 * 7 - h, 12))
    ets = auto_ets(y, n, ends, h, 48)
    actual = np.stack([y[e + 1:e + 1 + h] for e in ends])
    naive = np.stack([np.repeat(y[e], h) for e in ends])
    assert np.abs(actual - ets).mean() < 0.5 * np.abs(actual - naive).mean()
