"""Choosing one variant per target within the accuracy budget (pure functions, no TensorFlow).

A variant is *within budget* when its primary metric is at most the allowed amount worse than
the float model's (the ``float32`` SavedModel, measured the same way). Among the variants of a
target within budget, the smallest on disk is chosen (between equal sizes, the smaller gzipped),
then the fastest (batch-1 median latency).
When no compressed variant of a target is within budget, the target's float model is chosen and
the selection says so (``fallback``); nothing fails.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from seqline.components.compression.catalog import FLOAT_VARIANT

SLACK = 1e-9   # float rounding: a loss of exactly the limit (1.03 vs 1.0 at 3%) is within budget


@dataclass(frozen=True)
class Budget:
    """How much of the task's primary ``metric`` a compressed variant may lose.

    ``max_relative_loss=0.03``: at most 3% worse than the float model (e.g. MAE up by 3%);
    ``max_absolute_loss=0.01``: at most 0.01 worse in the metric's own units (e.g. one point of
    accuracy when accuracy is a fraction). When both are set, both must hold.
    """

    metric: str
    higher_is_better: bool
    max_relative_loss: float | None = None
    max_absolute_loss: float | None = None

    def __post_init__(self):
        if self.max_relative_loss is None and self.max_absolute_loss is None:
            raise ValueError("budget: set max_relative_loss or max_absolute_loss")
        for name in ("max_relative_loss", "max_absolute_loss"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"budget: {name} must be >= 0, got {value}")

    def loss(self, reference: float, value: float) -> tuple:
        """``(absolute, relative)`` loss of ``value`` against ``reference``; negative is better."""
        absolute = (reference - value) if self.higher_is_better else (value - reference)
        if reference != 0:
            return absolute, absolute / abs(reference)
        return absolute, (0.0 if absolute <= 0 else math.inf)

    def allows(self, reference: float, value: float) -> bool:
        """Whether ``value`` is within budget of ``reference`` (NaN never is)."""
        if value is None or math.isnan(value) or math.isnan(reference):
            return False
        absolute, relative = self.loss(reference, value)
        return ((self.max_relative_loss is None or relative <= self.max_relative_loss + SLACK)
                and (self.max_absolute_loss is None or absolute <= self.max_absolute_loss + SLACK))

    def limit(self, reference: float) -> float:
        """The worst value of the metric still within budget of ``reference``."""
        sign = -1.0 if self.higher_is_better else 1.0
        bounds = []
        if self.max_relative_loss is not None:
            bounds.append(reference + sign * self.max_relative_loss * abs(reference))
        if self.max_absolute_loss is not None:
            bounds.append(reference + sign * self.max_absolute_loss)
        return max(bounds) if self.higher_is_better else min(bounds)

    def describe(self) -> str:
        """E.g. ``mae at most 3% worse than the float model``."""
        limits = []
        if self.max_relative_loss is not None:
            limits.append(f"{self.max_relative_loss:.3g}x ({100 * self.max_relative_loss:.3g}%)")
        if self.max_absolute_loss is not None:
            limits.append(f"{self.max_absolute_loss:.4g} absolute")
        direction = "lower" if self.higher_is_better else "higher"
        return f"{self.metric} at most {' and '.join(limits)} {direction} than the float model"

    def to_dict(self) -> dict:
        return asdict(self)


def select(rows: list, target: str, budget: Budget, reference: float) -> dict:
    """The variant to export for ``target``.

    ``rows``: one dict per variant with ``name``, ``target``, ``status`` (only ``"ok"`` rows
    compete), ``metrics`` (holding ``budget.metric``), ``size_bytes``, ``gzip_bytes`` (optional)
    and ``latency_p50_ms``.
    Returns ``{"target", "variant" (None if not even the float model is available), "fallback",
    "within_budget" (names), "reason"}``.
    """
    float_name = FLOAT_VARIANT[target]
    ready = [r for r in rows if r["target"] == target and r["status"] == "ok"]
    within = [r for r in ready if budget.allows(reference, r["metrics"].get(budget.metric, math.nan))]
    names = [r["name"] for r in within]
    compressed = [r for r in within if r["name"] != float_name]
    if compressed:
        best = min(within, key=lambda r: (r["size_bytes"], r.get("gzip_bytes", 0), r["latency_p50_ms"]))
        reason = (f"{best['name']}: the smallest{_tie_break(within, best)} of {len(within)} "
                  f"variants within budget ({budget.describe()})")
        return {"target": target, "variant": best["name"], "fallback": False,
                "within_budget": names, "reason": reason}
    float_row = next((r for r in ready if r["name"] == float_name), None)
    missed = [f"{r['name']} {_loss_text(budget, reference, r)}" for r in ready if r["name"] != float_name]
    reason = (f"no compressed {target} variant within budget ({budget.describe()})"
              + (f": {'; '.join(missed)}" if missed else ": none was built"))
    if float_row is None:
        return {"target": target, "variant": None, "fallback": True, "within_budget": names,
                "reason": reason + f"; the float model {float_name} is not available either"}
    return {"target": target, "variant": float_name, "fallback": True, "within_budget": names,
            "reason": reason + f"; exporting the float model {float_name}"}


def _tie_break(within: list, best: dict) -> str:
    same = [r for r in within if r["size_bytes"] == best["size_bytes"]]
    if len(same) == 1:
        return ""
    if sum(r.get("gzip_bytes", 0) == best.get("gzip_bytes", 0) for r in same) == 1:
        return " (then smallest gzipped)"
    return " (then fastest)"


def _loss_text(budget: Budget, reference: float, row: dict) -> str:
    value = row["metrics"].get(budget.metric, math.nan)
    if value is None or math.isnan(value):
        return f"{budget.metric} unavailable"
    absolute, relative = budget.loss(reference, value)
    return f"{budget.metric} {value:.4g} ({100 * relative:+.2f}%, {absolute:+.4g})"
