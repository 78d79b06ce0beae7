"""The linear base: a ridge regression from the window to the horizon, fitted on the train split.

In window units (each window minus its last value, divided by its standard deviation) every base
the window-relative model can correct is a matrix ``W [lookback, horizon]`` whose columns sum to
1: naive, seasonal-naive and seasonal mean are fixed ones (:func:`numerics.base_weights`). The
linear base learns ``W`` from the train windows (NLinear's model, LSTNet's autoregressive part)
by ridge regression shrunk towards the best fixed base, with the shrinkage chosen on the eval
windows; the Transform uses it only when it lowers the eval split's squared error below that
fixed base. Its inputs are second moments of the windows, summed exactly
(:mod:`seqline.components.exact_sum`), so the fit does not depend on how a runner splits the data.
"""
from __future__ import annotations

import numpy as np

from seqline.components.exact_sum import exact, to_float

SHRINKAGE = (1e-3, 1e-2, 1e-1, 1.0)   # ridge penalty per train window, towards the fixed base
MOMENTS = ("xx", "xy", "yy", "n")

_exact = np.frompyfunc(exact, 1, 1)
_to_float = np.frompyfunc(to_float, 1, 1)


def window_moments(windows: np.ndarray, future: np.ndarray) -> dict:
    """Exact second moments of windows ``[N, L]`` and their futures ``[N, H]`` in window units:
    ``xx [L, L]``, ``xy [L, H]`` and ``yy`` (sum of squared futures) as integers of
    :func:`exact`, and ``n`` (windows). Windows that do not vary are left out (no unit)."""
    spread = windows.std(axis=1, keepdims=True)
    keep = spread[:, 0] > 0
    last, spread = windows[keep, -1:], spread[keep]
    x, y = (windows[keep] - last) / spread, (future[keep] - last) / spread
    # einsum without BLAS: the same rounding in every process, however many threads BLAS has
    return {"xx": _exact(np.einsum("ni,nj->ij", x, x)), "xy": _exact(np.einsum("ni,nj->ij", x, y)),
            "yy": exact(float(np.einsum("nj,nj->", y, y))), "n": int(keep.sum())}


def empty_moments(lookback: int, horizon: int) -> dict:
    """The moments of no window."""
    return {"xx": np.zeros((lookback, lookback), dtype=object),
            "xy": np.zeros((lookback, horizon), dtype=object), "yy": 0, "n": 0}


def add_moments(a: dict, b: dict) -> dict:
    """The moments of both sets of windows (exact, in any order)."""
    return {k: a[k] + b[k] for k in MOMENTS}


def _floats(m: dict) -> tuple:
    return (_to_float(m["xx"]).astype(float), _to_float(m["xy"]).astype(float),
            to_float(m["yy"]), m["n"])


def squared_error(weights: np.ndarray, moments: tuple) -> float:
    """Mean squared error, in window units, of the base ``weights`` over the windows of
    ``moments`` (from :func:`_floats`)."""
    xx, xy, yy, n = moments
    total = np.trace(weights.T @ xx @ weights) - 2 * np.trace(weights.T @ xy) + yy
    return max(float(total), 0.0) / (n * xy.shape[1])


def fit(train: dict, evaluation: dict, fixed: np.ndarray) -> dict | None:
    """``{"weights", "shrinkage", "mse"}``: the ridge fit whose eval squared error is lowest
    (``mse``: the eval MSE of the fixed base and of each shrinkage), or ``None`` when there are no
    train or no eval windows to fit and judge it with."""
    if train["n"] == 0 or evaluation["n"] == 0:
        return None
    xx, xy, _, n = _floats(train)
    judged = _floats(evaluation)
    mse, fits = {"fixed": squared_error(fixed, judged)}, {}
    eye = np.eye(len(xx))
    for c in SHRINKAGE:
        weights = fixed + np.linalg.solve(xx + c * n * eye, xy - xx @ fixed)
        weights[-1] += 1 - weights.sum(axis=0)   # the last step carries no information in window
        fits[c] = weights                         # units: it makes each column sum to 1
        mse[f"{c:g}"] = squared_error(weights, judged)
    best = min(fits, key=lambda c: mse[f"{c:g}"])
    return {"weights": fits[best], "shrinkage": best, "mse": mse}
