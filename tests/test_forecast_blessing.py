"""The forecast verdict and blessing: the bar is the best baseline; the AutoETS reference counts
only when the config asks."""
from hypothesis import given, settings, strategies as st

from seqline.components.tasks.forecast.evaluate import TIE, bless, reference_line, verdict

RULES = {"max_mase": None, "max_ratio_to_best_baseline": 1.0, "max_ratio_to_naive": None,
         "max_regression_vs_champion": None, "must_beat_reference": False}
NAMES = ("naive", "seasonal_naive", "drift", "window_mean")
MASE = st.floats(0.01, 100, allow_nan=False)


def scores(**mase):
    return {k: {"mase": v} for k, v in mase.items()}


def test_a_model_between_naive_and_seasonal_naive_is_neither_called_better_nor_blessed():
    # The case from the field: beats naive (1.86) but seasonal-naive (0.16) is 4.5x better.
    baselines = scores(naive=1.86, seasonal_naive=0.16, drift=1.9, window_mean=2.0)
    beats, line = verdict({"mase": 0.72}, baselines)
    assert not beats and "does NOT beat the seasonal_naive forecast" in line and "4.50x" in line
    blessed, reasons = bless({"mase": 0.72}, baselines, None, RULES)
    assert not blessed and "best baseline (seasonal_naive)" in reasons[0]


def test_the_reference_enters_the_blessing_only_when_asked():
    baselines = scores(naive=2.0, seasonal_naive=1.5, drift=2.1, window_mean=3.0)
    ets = {"mase": 1.0}
    assert bless({"mase": 1.2}, baselines, None, RULES, ets)[0]
    blessed, reasons = bless({"mase": 1.2}, baselines, None, {**RULES, "must_beat_reference": True},
                             ets)
    assert not blessed and "reference (AutoETS) MASE 1.0000" in reasons[-1]
    assert not bless({"mase": 0.5}, baselines, None, {**RULES, "must_beat_reference": True})[0]
    assert "NOT better (1.20x)" in reference_line({"mase": 1.2}, ets)


def test_a_model_within_one_percent_of_the_best_baseline_ties_it():
    beats, line = verdict({"mase": 2.3795}, scores(naive=2.38, seasonal_naive=5.6))
    assert not beats and "ties the naive forecast" in line


@settings(max_examples=200, deadline=None)
@given(MASE, st.tuples(MASE, MASE, MASE, MASE))
def test_no_model_that_loses_to_any_baseline_is_called_better_or_blessed(model, values):
    baselines = scores(**dict(zip(NAMES, values)))
    beats, line = verdict({"mase": model}, baselines)
    blessed, _ = bless({"mase": model}, baselines, None, RULES)
    assert beats == (model / min(values) < 1 - TIE)
    assert ("beats every baseline" in line) == beats
    assert ("does NOT beat" in line) == (model / min(values) >= 1 + TIE)
    assert blessed == (model <= min(values))
