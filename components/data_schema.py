"""The data schema: what every run's data must look like, inferred once and edited by the user.

A schema is YAML::

    features:
      Close: {type: float, min: 0.0, max: null, max_missing_fraction: 0.05, max_drift: null}
    labels:
      label: {values: ["0", "1"]}

:func:`infer` derives one from statistics, :func:`render` writes it with comments, :func:`load`
reads (and checks) a user's file, and :func:`validate` lists the anomalies of new statistics.
"""
from __future__ import annotations

import os
import time

import yaml

from seqline.components import data_stats
from seqline.pipeline.errors import ConfigError

TYPES = ("float", "int", "bytes")
FEATURE_KEYS = {"type": (str,), "min": (int, float, type(None)), "max": (int, float, type(None)),
                "max_missing_fraction": (int, float), "max_drift": (int, float, type(None))}

HEADER = """\
# seqline data schema: ExampleValidator checks every run's data against this file.
# Inferred by SchemaGen from {source} on {date}; edit it freely (it is never overwritten;
# delete it to infer a new one). Per feature:
#   type                  float | int | bytes
#   min, max              allowed range of the values (null: unbounded)
#   max_missing_fraction  largest allowed share of missing values (NaN or absent)
#   max_drift             largest allowed Jensen-Shannon divergence (0..1) from the previous
#                         data's distribution (null: validation.max_drift from the config)
# A data feature not listed here is an anomaly ("new column"), as is a listed one that is absent.
# labels: the label values seen; a new value is an anomaly.
"""


def infer(stats: dict, max_missing_fraction: float) -> dict:
    """A schema from statistics: each feature's type, ``min: 0`` if no value was negative, a
    missing-value bound of at least ``max_missing_fraction`` (or what the data had)."""
    features = {}
    for name, f in stats["features"].items():
        features[name] = {
            "type": f["type"],
            "min": 0.0 if f.get("count") and f["min"] >= 0 else None,
            "max": None,
            "max_missing_fraction": round(max(max_missing_fraction, f["missing_fraction"]), 6),
            "max_drift": None,
        }
    labels = {key: {"values": sorted(counts)} for key, counts in stats["labels"].items()}
    return {"features": features, "labels": labels}


def render(schema: dict, source: str) -> str:
    """The schema as commented YAML."""
    body = yaml.safe_dump(schema, sort_keys=False, default_flow_style=False)
    return HEADER.format(source=source, date=time.strftime("%Y-%m-%d %H:%M")) + body


def write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def load(path: str) -> dict:
    """Read and check a schema file; a problem is a ConfigError naming the file and key."""
    from seqline.pipeline.yaml_loader import load_file

    raw = load_file(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("features"), dict):
        raise ConfigError(f"{path}: expected a mapping with a 'features' mapping")
    for name, spec in raw["features"].items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: features.{name}: expected a mapping")
        for key, value in spec.items():
            if key not in FEATURE_KEYS:
                raise ConfigError(f"{path}: features.{name}.{key}: unknown key "
                                  f"(known: {', '.join(FEATURE_KEYS)})")
            if not isinstance(value, FEATURE_KEYS[key]) or isinstance(value, bool):
                raise ConfigError(f"{path}: features.{name}.{key}: invalid value {value!r}")
        if spec.get("type") not in TYPES:
            raise ConfigError(f"{path}: features.{name}.type: must be one of {', '.join(TYPES)}")
        spec.setdefault("min", None)
        spec.setdefault("max", None)
        spec.setdefault("max_missing_fraction", 0.0)
        spec.setdefault("max_drift", None)
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("values"), list) for v in labels.values()):
        raise ConfigError(f"{path}: labels: expected a mapping of label -> {{values: [...]}}")
    return {"features": raw["features"], "labels": labels}


def _fmt(x) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def validate(stats: dict, schema: dict, baseline: dict | None, max_drift: float | None) -> tuple:
    """Anomalies of ``stats`` against ``schema`` (and the ``baseline`` statistics for drift).

    Returns ``(anomalies, drift)``: each anomaly a dict with ``feature``, ``kind``, ``message``
    naming the observed value; ``drift`` the divergence of each feature from the baseline.
    """
    anomalies, drift = [], {}

    def add(feature, kind, message):
        anomalies.append({"feature": feature, "kind": kind, "message": message})

    if stats["num_examples"] == 0:
        add("*", "no_data", "the data has no examples")
        return anomalies, drift
    observed = stats["features"]
    for name, spec in schema["features"].items():
        f = observed.get(name)
        if f is None or f["present"] == 0:
            add(name, "missing_column", f"column missing from the data (schema type {spec['type']})")
            continue
        if f["type"] != spec["type"]:
            add(name, "type_change", f"values are {f['type']}, the schema says {spec['type']}")
        if f["missing_fraction"] > spec["max_missing_fraction"]:
            add(name, "too_many_missing",
                f"{f['missing_fraction']:.1%} of the values are missing ({f['missing']}), above "
                f"max_missing_fraction {spec['max_missing_fraction']:.1%}")
        if not f.get("count"):
            continue
        if spec["min"] is not None and f["min"] < spec["min"]:
            add(name, "below_min",
                f"smallest value {_fmt(f['min'])} is below min {_fmt(spec['min'])} "
                f"(about {data_stats.values_below(f, spec['min'])} of {f['count']} values)")
        if spec["max"] is not None and f["max"] > spec["max"]:
            add(name, "above_max",
                f"largest value {_fmt(f['max'])} is above max {_fmt(spec['max'])} "
                f"(about {data_stats.values_above(f, spec['max'])} of {f['count']} values)")
        base = (baseline or {}).get("features", {}).get(name)
        if base and base.get("count"):
            drift[name] = data_stats.js_divergence(base, f)
            bound = spec["max_drift"] if spec["max_drift"] is not None else max_drift
            if bound is not None and drift[name] > bound:
                add(name, "drift", f"distribution moved from the previous data: Jensen-Shannon "
                                   f"divergence {drift[name]:.3f} above max_drift {bound} (mean "
                                   f"{_fmt(base['mean'])} -> {_fmt(f['mean'])}, std "
                                   f"{_fmt(base['std'])} -> {_fmt(f['std'])})")
    for name in observed:
        if name not in schema["features"]:
            add(name, "new_column", f"column not in the schema ({observed[name]['type']}); add it "
                                    "to the schema file if it is expected, or delete the file to "
                                    "infer the schema again")
    for key, counts in stats["labels"].items():
        known = schema["labels"].get(key)
        if known is None:
            add(key, "new_column", "label not in the schema")
            continue
        new = sorted(set(counts) - {str(v) for v in known["values"]})
        if new:
            add(key, "new_label_value", f"label values not in the schema: {', '.join(new[:10])} "
                                        f"({sum(counts[v] for v in new)} examples)")
    return anomalies, drift


def report(anomalies: list, drift: dict, source: str, schema_path: str) -> str:
    """A readable report: one line per anomaly, then the drift of every feature."""
    lines = [f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'} in {source} "
             f"(schema: {schema_path})"]
    width = max([len(a["feature"]) for a in anomalies] + [7])
    lines += [f"  {a['feature']:<{width}}  {a['kind']:<16}  {a['message']}" for a in anomalies]
    if drift:
        lines.append("drift from the previous data (Jensen-Shannon divergence): " +
                     ", ".join(f"{k} {v:.3f}" for k, v in sorted(drift.items())))
    if anomalies:
        lines.append("Fix the data, or edit the schema file if the change is expected, then rerun.")
    return "\n".join(lines) + "\n"
