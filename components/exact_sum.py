"""Floating-point sums that do not depend on the order of the terms, for Beam combiners whose
output must be the same however a runner splits and merges the data.

Every finite double times ``2**1074`` is an integer, so sums of :func:`exact` terms are exact;
:func:`to_float` rounds the total once, correctly.
"""
from __future__ import annotations

from fractions import Fraction

SCALE = 1 << 1074


def exact(x: float) -> int:
    """``x * 2**1074`` as an integer."""
    num, den = float(x).as_integer_ratio()
    return num * (SCALE // den)


def to_float(total: int) -> float:
    """The float nearest to ``total / 2**1074``."""
    return float(Fraction(total, SCALE))
