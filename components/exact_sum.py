"""Floating-point sums that do not depend on the order of the terms, for Beam combiners whose
output must be the same however a runner splits and merges the data.

Every finite double times ``2**1074`` is an integer, so sums of :func:`exact` terms are exact;
:func:`to_float` rounds the total once, correctly.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

SCALE = 1 << 1074


def exact(x: float) -> int:
    """``x * 2**1074`` as an integer."""
    num, den = float(x).as_integer_ratio()
    return num * (SCALE // den)


def to_float(total: int) -> float:
    """The float nearest to ``total / 2**1074``."""
    return float(Fraction(total, SCALE))


def exact_sums(x) -> tuple:
    """``(sum of exact(v), sum of exact(v) ** 2)`` over a float64 array of finite values, as
    the scalar :func:`exact` gives them, from NumPy sums over the values' 18-bit mantissa limbs
    grouped by exponent (each limb sum fits an int64 for up to 2**26 values)."""
    x = np.asarray(x, np.float64)
    if not len(x):
        return 0, 0
    m, e = np.frexp(x)                                   # x = m * 2**e, 0.5 <= |m| < 1
    mant = np.abs(np.ldexp(m, 53)).astype(np.int64)     # |x| = mant * 2**(e - 53), exactly
    sign = np.where(m < 0, -1, 1)
    a, b, c = mant >> 36, (mant >> 18) & 0x3FFFF, mant & 0x3FFFF
    order = np.argsort(e, kind="stable")
    e = e[order]
    starts = np.flatnonzero(np.concatenate(([True], e[1:] != e[:-1])))
    a, b, c, sign = a[order], b[order], c[order], sign[order]
    limbs = [np.add.reduceat(v, starts).tolist() for v in (
        sign * a, sign * b, sign * c, a * a, 2 * a * b, 2 * a * c + b * b, 2 * b * c, c * c)]
    total = square = 0
    for i, exponent in enumerate(e[starts].tolist()):
        sa, sb, sc, aa, ab, acb, bc, cc = (limb[i] for limb in limbs)
        shift = exponent + 1021 + 52                      # exact(v) = mant * 2**(e + 1021)
        total += ((sa << 36) + (sb << 18) + sc) << shift
        square += ((aa << 72) + (ab << 54) + (acb << 36) + (bc << 18) + cc) << (2 * shift)
    return total >> 52, square >> 104
