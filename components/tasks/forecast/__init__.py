"""Forecasting (``task: forecast``): CSV series in, windows, baselines, forecasts."""
