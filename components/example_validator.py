"""ExampleValidator: checks the statistics against the schema and the previous data; anomalies
stop the run before Transform (and so before training), with a report naming each feature and
the observed value.

Inputs: ``statistics``, ``schema`` and, resolved from the pipeline's history, the statistics of
the previous validated data (``baseline_statistics``: the newest earlier ExampleValidator run on
other data), for drift. Output ``anomalies``: ``anomalies.json`` and ``anomalies.txt``.
"""
from __future__ import annotations

import json
import os

from seqline.pipeline.artifacts import Artifact
from seqline.pipeline.component import ComponentSpec
from seqline.pipeline.errors import DataError
from seqline.pipeline.executions import complete, read_record

SPEC = ComponentSpec(
    name="ExampleValidator",
    inputs={"statistics": ("ExampleStatistics", "StatisticsGen", "statistics"),
            "schema": ("Schema", "SchemaGen", "schema")},
    outputs={"anomalies": "ExampleAnomalies"},
    description="check the data against the schema and the previous data; stop on anomalies",
)


def parameters(cfg: dict) -> dict:
    return {"max_drift": cfg["validation"]["max_drift"]}


def resolve_inputs(pipeline_root: str, inputs: dict) -> dict:
    """``baseline_statistics``: the statistics the newest earlier validation of other data used."""
    current = inputs["statistics"].fingerprint
    for folder in complete(pipeline_root, SPEC.name):
        record = read_record(folder)
        used = record.get("inputs", {}).get("statistics")
        if record.get("input_fingerprints", {}).get("statistics") != current and used \
                and os.path.isdir(used):
            return {"baseline_statistics": Artifact.load(used)}
    return {}


def _describe(statistics) -> str:
    spans = statistics.properties.get("spans")
    return f"spans {spans}" if spans else f"{statistics.properties['num_examples']} examples"


def execute(inputs, outputs, params, ctx) -> dict:
    from seqline.components import data_schema, statistics_gen

    stats = statistics_gen.load(inputs["statistics"])["all"]
    schema_path = inputs["schema"].properties.get("path", inputs["schema"].path("schema.yaml"))
    schema = data_schema.load(inputs["schema"].path("schema.yaml"))
    base_artifact = inputs.get("baseline_statistics")
    baseline = statistics_gen.load(base_artifact)["all"] if base_artifact else None
    anomalies, drift = data_schema.validate(stats, schema, baseline, params["max_drift"])
    source = _describe(inputs["statistics"])
    if base_artifact:
        source += f", compared with {_describe(base_artifact)}"
    text = data_schema.report(anomalies, drift, source, schema_path)
    out = outputs["anomalies"]
    os.makedirs(out.uri, exist_ok=True)
    with open(out.path("anomalies.json"), "w", encoding="utf-8") as fh:
        json.dump({"anomalies": anomalies, "drift": drift, "source": source}, fh, indent=2,
                  sort_keys=True)
    with open(out.path("anomalies.txt"), "w", encoding="utf-8") as fh:
        fh.write(text)
    ctx.log_text(text, "anomalies.txt")
    ctx.log_metrics({"anomalies": len(anomalies), **{f"drift.{k}": v for k, v in drift.items()}})
    out.properties.update(count=len(anomalies))
    if anomalies:
        for line in text.splitlines():
            ctx.echo(line)
        summary = "; ".join(f"{a['feature']}: {a['message']}" for a in anomalies[:3])
        more = f" (+{len(anomalies) - 3} more)" if len(anomalies) > 3 else ""
        raise DataError(f"ExampleValidator: {len(anomalies)} anomal"
                        f"{'y' if len(anomalies) == 1 else 'ies'} — {summary}{more}; the run "
                        "stopped before training, report in anomalies.txt")
    ctx.echo(f"no anomalies in {source}")
    return {"anomalies": 0, "features_checked": len(schema["features"]),
            **({"max_drift": max(drift.values())} if drift else {})}
