"""Full-pass feature statistics on the train split (Beam analyzers) and the scaling they give."""
from __future__ import annotations

import apache_beam as beam
import numpy as np

from seqline.components.exact_sum import exact, to_float


class MomentsFn(beam.CombineFn):
    """Per-feature count, sum, sum of squares, min and max of ``[N, F]`` arrays; NaN is skipped.

    Sums are added exactly (:mod:`seqline.components.exact_sum`), so the result does not depend on the
    order in which a runner merges the inputs; ``EXACT`` names the exact scalar sums a subclass
    adds.
    """

    EXACT = ()

    def __init__(self, n_features: int):
        self.n = n_features

    def create_accumulator(self):
        return {"count": np.zeros(self.n), "sum": [0] * self.n, "sumsq": [0] * self.n,
                "min": np.full(self.n, np.inf), "max": np.full(self.n, -np.inf),
                **{k: 0 for k in self.EXACT}}

    def add_input(self, acc, feats):
        ok = np.isfinite(feats)
        acc["count"] += ok.sum(0)
        for key, terms in (("sum", np.where(ok, feats, 0)), ("sumsq", np.where(ok, feats ** 2, 0))):
            acc[key] = [a + exact(t) for a, t in zip(acc[key], terms.sum(0))]
        acc["min"] = np.minimum(acc["min"], np.where(ok, feats, np.inf).min(0, initial=np.inf))
        acc["max"] = np.maximum(acc["max"], np.where(ok, feats, -np.inf).max(0, initial=-np.inf))
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out["count"] = out["count"] + a["count"]
            for k in ("sum", "sumsq"):
                out[k] = [x + y for x, y in zip(out[k], a[k])]
            for k in self.EXACT:
                out[k] += a[k]
            out["min"] = np.minimum(out["min"], a["min"])
            out["max"] = np.maximum(out["max"], a["max"])
        return out

    def extract_output(self, acc):
        return {**acc, "sum": np.array([to_float(v) for v in acc["sum"]]),
                "sumsq": np.array([to_float(v) for v in acc["sumsq"]]),
                **{k: to_float(acc[k]) for k in self.EXACT}}


def scaling_stats(moments: dict, scaling: str) -> tuple:
    """``(center, scale)`` per feature from accumulated count/sum/sumsq/min/max."""
    n = np.maximum(moments["count"], 1)
    mean = moments["sum"] / n
    std = np.sqrt(np.maximum(moments["sumsq"] / n - mean ** 2, 0.0))
    if scaling == "standard":
        center, scale = mean, std
    elif scaling == "minmax":
        center, scale = moments["min"], moments["max"] - moments["min"]
    else:
        center, scale = np.zeros_like(mean), np.ones_like(mean)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return center.tolist(), scale.tolist()
