"""Per-feature statistics of ``tf.train.Example`` records, as a Beam combiner.

Task-agnostic: every ``feature/<name>`` key is a feature (float, int or bytes lists), every
``label`` or ``label/<name>`` key a label (float labels get feature statistics, int and bytes
labels a count per value), and ``meta/series_id`` groups examples into series.
Per feature: examples that have it, values, missing values (NaN or absent key), min, max, mean,
standard deviation, quantiles and value-list lengths; per label: the count of each value; per
series: how many examples each has.

Results do not depend on how the runner splits and merges the data (so the statistics are
byte-identical on one or many workers): sums are exact (integers), quantiles come from a
log-bucketed sketch whose buckets only count (relative error :data:`RELATIVE_ACCURACY`).
"""
from __future__ import annotations

import bisect
import collections
import itertools
import math
from fractions import Fraction

import apache_beam as beam
import numpy as np

from seqline.components.example_proto import Example
from seqline.components.exact_sum import SCALE, exact_sums

RELATIVE_ACCURACY = 0.005
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
TINY = 1e-12                     # smaller magnitudes count as zero in the sketch
QUANTILES = 20                   # quantiles at 0, 5, ..., 100 %
FEATURE, LABEL, SERIES = "feature/", "label", "meta/series_id"
KINDS = {"float_list": "float", "int64_list": "int", "bytes_list": "bytes"}


# --- the quantile sketch -------------------------------------------------------------------------

def _bucket(x: float) -> int:
    return math.ceil(math.log(abs(x)) / LOG_GAMMA)


def _bucket_value(index: int) -> float:
    return 2 * GAMMA ** index / (GAMMA + 1)


def sketch_merge(into: dict, other: dict) -> None:
    into["zero"] += other["zero"]
    for side in ("pos", "neg"):
        for key, count in other[side].items():
            into[side][key] = into[side].get(key, 0) + count


def sketch_points(sketch: dict) -> list:
    """``(value, count)`` of every bucket, ascending by value."""
    points = [(-_bucket_value(int(k)), c) for k, c in sketch["neg"].items()]
    points += [(0.0, sketch["zero"])] if sketch["zero"] else []
    points += [(_bucket_value(int(k)), c) for k, c in sketch["pos"].items()]
    return sorted(points)


def sketch_quantiles(sketch: dict, low: float, high: float, n: int = QUANTILES) -> list:
    """``n + 1`` quantiles (0 .. 100 %), within ``relative accuracy`` of the true values."""
    points = sketch_points(sketch)
    total = sum(c for _, c in points)
    out = []
    for i in range(n + 1):
        rank, seen = i / n * (total - 1), 0
        for value, count in points:
            seen += count
            if seen > rank:
                out.append(min(max(value, low), high))
                break
    out[0], out[-1] = low, high
    return out


def js_divergence(baseline: dict, current: dict) -> float:
    """Jensen-Shannon divergence (base 2, 0 = same, 1 = disjoint) between two features'
    distributions, over bins holding 5 % of the baseline each, plus one below its minimum and
    one above its maximum."""
    edges = sorted(set(baseline["quantiles"]))

    def masses(stats):
        bins = [0] * (len(edges) + 2)
        for value, count in sketch_points(stats["sketch"]):
            value = min(max(value, stats["min"]), stats["max"])   # bucket value -> observed range
            bins[bisect.bisect_right(edges, value) if value <= edges[-1] else len(edges) + 1] += count
        total = sum(bins) or 1
        return [b / total for b in bins]

    p, q = masses(baseline), masses(current)
    m = [(a + b) / 2 for a, b in zip(p, q)]

    def kl(a, b):
        return sum(x * math.log2(x / y) for x, y in zip(a, b) if x > 0)

    return max(0.0, (kl(p, m) + kl(q, m)) / 2)


# --- the combiner --------------------------------------------------------------------------------

def _new_feature() -> dict:
    return {"kinds": [], "present": 0, "count": 0, "nan": 0, "sum": 0, "sumsq": 0,
            "min": math.inf, "max": -math.inf, "sketch": {"pos": {}, "neg": {}, "zero": 0},
            "len_min": math.inf, "len_max": 0, "len_sum": 0}


def _add_feature(acc: dict, kind: str, value_lists: list) -> None:
    """Add one feature's values of a batch: ``value_lists`` holds each example's list."""
    if kind not in acc["kinds"]:
        acc["kinds"] = sorted(acc["kinds"] + [kind])
    lengths = [len(v) for v in value_lists]
    acc["present"] += len(lengths)
    acc["len_min"] = min(acc["len_min"], min(lengths))
    acc["len_max"] = max(acc["len_max"], max(lengths))
    acc["len_sum"] += sum(lengths)
    if kind == "bytes":
        return
    x = np.fromiter(itertools.chain.from_iterable(value_lists), np.float64, sum(lengths))
    finite = x[np.isfinite(x)]
    acc["nan"] += len(x) - len(finite)
    if not len(finite):
        return
    acc["count"] += len(finite)
    total, square = exact_sums(finite)
    acc["sum"] += total
    acc["sumsq"] += square
    acc["min"], acc["max"] = min(acc["min"], finite.min().item()), max(acc["max"], finite.max().item())
    _sketch_add_all(acc["sketch"], finite)


def _sketch_add_all(sketch: dict, x) -> None:
    """Count finite values in the sketch: magnitudes under ``TINY`` as zero, the others in their
    log bucket by sign (the log of each distinct value taken once, with ``math.log``)."""
    magnitude = np.abs(x)
    sketch["zero"] += int(np.count_nonzero(magnitude < TINY))
    for side, values in (("pos", x[x >= TINY]), ("neg", -x[x <= -TINY])):
        distinct, counts = np.unique(values, return_counts=True)
        into = sketch[side]
        for value, count in zip(distinct.tolist(), counts.tolist()):
            key = _bucket(value)
            into[key] = into.get(key, 0) + count


def _merge_feature(into: dict, other: dict) -> None:
    into["kinds"] = sorted(set(into["kinds"]) | set(other["kinds"]))
    for key in ("present", "count", "nan", "sum", "sumsq", "len_sum"):
        into[key] += other[key]
    for key, pick in (("min", min), ("max", max), ("len_min", min), ("len_max", max)):
        into[key] = pick(into[key], other[key])
    sketch_merge(into["sketch"], other["sketch"])


def _is_label(key: str) -> bool:
    return key == LABEL or key.startswith(LABEL + "/")


def _counted(key: str) -> bool:
    """Whether a key has statistics: a feature, a label or the series id."""
    return key.startswith(FEATURE) or _is_label(key) or key == SERIES


class ExampleStatsFn(beam.CombineFn):
    """Batches (lists) of serialized ``tf.train.Example`` records -> an accumulator; :func:`finish` turns one into
    statistics, :meth:`merge_accumulators` combines several (e.g. the splits into one)."""

    def create_accumulator(self):
        return {"examples": 0, "features": {}, "labels": {}, "series": {}}

    def add_input(self, acc, batch):
        """Add a batch (a list) of serialized examples."""
        acc["examples"] += len(batch)
        lists = {}                       # (key, kind) -> each example's value list
        counted = {}                     # key -> whether it is counted (other meta/ keys are not)
        for serialized in batch:
            features = Example.FromString(serialized).features.feature
            for key in features:         # faster than .items() on these maps
                wanted = counted.get(key)
                if wanted is None:
                    wanted = counted[key] = _counted(key)
                if not wanted:
                    continue
                feature = features[key]
                kind = feature.WhichOneof("kind")
                if kind:
                    lists.setdefault((key, kind), []).append(getattr(feature, kind).value)
        for (key, kind), value_lists in lists.items():
            kind = KINDS[kind]
            if key.startswith(FEATURE):
                name = key[len(FEATURE):]
                _add_feature(acc["features"].setdefault(name, _new_feature()), kind, value_lists)
            elif _is_label(key) and kind == "float":
                _add_feature(acc["features"].setdefault(key, _new_feature()), kind, value_lists)
            elif _is_label(key):
                counts = acc["labels"].setdefault(key, {})
                for values in value_lists:
                    for value in values:
                        text = value.decode("utf-8", "replace") if kind == "bytes" else str(value)
                        counts[text] = counts.get(text, 0) + 1
            elif key == SERIES and kind == "bytes":
                for first, count in collections.Counter(v[0] for v in value_lists if v).items():
                    series = first.decode("utf-8", "replace")
                    acc["series"][series] = acc["series"].get(series, 0) + count
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            out["examples"] += acc["examples"]
            for name, feature in acc["features"].items():
                _merge_feature(out["features"].setdefault(name, _new_feature()), feature)
            for key, counts in acc["labels"].items():
                merged = out["labels"].setdefault(key, {})
                for value, count in counts.items():
                    merged[value] = merged.get(value, 0) + count
            for series, count in acc["series"].items():
                out["series"][series] = out["series"].get(series, 0) + count
        return out

    def extract_output(self, acc):
        return acc


def _feature_stats(acc: dict, examples: int) -> dict:
    kind = acc["kinds"][0] if len(acc["kinds"]) == 1 else "mixed" if acc["kinds"] else "absent"
    out = {"type": kind, "present": acc["present"], "count": acc["count"],
           "missing": acc["nan"] + examples - acc["present"],
           "value_length": {"min": acc["len_min"] if acc["present"] else 0, "max": acc["len_max"],
                            "mean": acc["len_sum"] / acc["present"] if acc["present"] else 0.0}}
    values = acc["count"] + acc["nan"]
    out["missing_fraction"] = out["missing"] / max(values + examples - acc["present"], 1)
    if acc["count"]:
        n = acc["count"]
        mean = Fraction(acc["sum"], SCALE) / n
        var = max(Fraction(acc["sumsq"], SCALE * SCALE) / n - mean * mean, Fraction(0))
        out.update(min=acc["min"], max=acc["max"], mean=float(mean), std=math.sqrt(var),
                   quantiles=sketch_quantiles(acc["sketch"], acc["min"], acc["max"]),
                   sketch={"pos": {str(k): v for k, v in sorted(acc["sketch"]["pos"].items())},
                           "neg": {str(k): v for k, v in sorted(acc["sketch"]["neg"].items())},
                           "zero": acc["sketch"]["zero"]})
    return out


def finish(acc: dict) -> dict:
    """The JSON-able statistics of an accumulator."""
    lengths = sorted(acc["series"].values())
    series = ({"count": len(lengths), "min_length": lengths[0], "max_length": lengths[-1],
               "mean_length": sum(lengths) / len(lengths)} if lengths else None)
    return {"num_examples": acc["examples"],
            "features": {name: _feature_stats(f, acc["examples"])
                         for name, f in sorted(acc["features"].items())},
            "labels": {key: dict(sorted(counts.items())) for key, counts in sorted(acc["labels"].items())},
            "series": series}


def values_below(stats: dict, bound: float) -> int:
    """About how many values of a feature lie below ``bound`` (exact for ``bound`` = 0)."""
    return sum(c for v, c in sketch_points(stats["sketch"]) if v < bound)


def values_above(stats: dict, bound: float) -> int:
    """About how many values of a feature lie above ``bound`` (exact for ``bound`` = 0)."""
    return sum(c for v, c in sketch_points(stats["sketch"]) if v > bound)
