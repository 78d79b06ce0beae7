"""Compressor: quantized, pruned and converted variants of the blessed model, each scored on the
test split by the runtime it ships to, and one variant chosen per deployment target.

Targets (``compression.targets``): ``gpu`` gets SavedModels with the serving signature (float32,
float16, Keras int8, float8 on FP8 GPUs); ``edge`` gets LiteRT ``.tflite`` networks with builtin
ops only (float32, dynamic-range int8, float16, full-integer int8, and pruned / clustered ones).
Every variant is scored with the task's metrics, measured on disk (raw and gzipped) and on the
CPU (batch-1 p50/p95, batch-64 throughput). Per target, the smallest and then fastest variant
within the accuracy budget (``compression.budget``) is chosen; when none is, the float model is,
and the report says so. The run does not fail on a budget miss or on a variant that cannot be
built. A model that is not blessed, a task without the compression hooks or
``compression.enabled: false`` is passed through (the Pusher exports the float model only).

Outputs
    compression: ``variants/`` (SavedModel folders and ``.tflite`` files), ``tradeoff.csv``,
        ``tradeoff.png``, ``report.json`` (rows, budget, selection, twin check, pruning) and
        ``edge_metadata.json`` (for the chosen edge model).
"""
from __future__ import annotations

import json
import os
import tempfile

from seqline.pipeline import counters
from seqline.pipeline.component import ComponentSpec
from seqline.pipeline.errors import SeqlineError

SPEC = ComponentSpec(
    name="Compressor",
    inputs={"model": ("Model", "Trainer", "model"),
            "transform_graph": ("TransformGraph", "Transform", "transform_graph"),
            "transformed_examples": ("TransformedExamples", "Transform", "transformed_examples"),
            "blessing": ("Blessing", "Evaluator", "blessing")},
    outputs={"compression": "Compression"},
    description="quantize, prune and convert; score every variant; choose one per target",
)


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"], "compression": cfg.get("compression") or {"enabled": False},
            "fine_tune": {k: cfg["training"][k] for k in ("batch_size", "learning_rate", "seed")}}


def _skip_reason(task, inputs: dict, settings: dict) -> str | None:
    if not settings["enabled"]:
        return "compression.enabled is false"
    if not inputs["blessing"].properties["blessed"]:
        return "the model is not blessed"
    if not task.supports_compression:
        return f"the {task.name} task does not implement the compression hooks yet"
    return None


def _progress(row: dict, metric: str) -> str:
    if row["status"] != "ok":
        return f"{row['name']}: {row['status']} ({row['note']})"
    return (f"{row['name']}: {metric}={row['metrics'][metric]:.4f} "
            f"size={row['size_bytes'] / 1024:.1f}KB p50={row['latency_p50_ms']:.3f}ms "
            f"({row['seconds']:.1f}s)")


def _edge_metadata(task, inputs: dict, row: dict, selection: dict, reference: dict, budget) -> dict:
    return {**task.edge_metadata(inputs["transform_graph"], inputs["transformed_examples"]),
            "variant": row["name"], "description": row["description"],
            "runtime": "LiteRT (ai-edge-litert), TFLite builtin ops only", "batch_size": 1,
            "state": "call interpreter.reset_all_variables() before every invoke: a fused LSTM "
                     "keeps its state in variable tensors, and each input is a new sequence",
            "tensors": row["tensors"], "ops": row["ops"], "metrics": row["metrics"],
            "float_model_metrics": reference, "budget": budget.to_dict(),
            "fallback": selection["fallback"], "selection": selection["reason"]}


def execute(inputs, outputs, params, ctx) -> dict:
    from seqline.components import plots
    from seqline.components.compression import report
    from seqline.components.compression.catalog import variants_for
    from seqline.components.compression.selection import select
    from seqline.components.compression.variants import VariantBuilder
    from seqline.components.tasks import get_task

    out = outputs["compression"]
    os.makedirs(out.uri, exist_ok=True)
    task, settings = get_task(params["task"]), params["compression"]
    reason = _skip_reason(task, inputs, settings)
    if reason:
        ctx.echo(f"nothing compressed: {reason}; the Pusher exports the float model only")
        out.properties.update(compressed=False, reason=reason, selection={})
        return {"compressed": False}
    budget = task.compression_budget(settings["budget"])
    metric, rows = budget.metric, []
    names = variants_for(settings["targets"], settings["variants"])
    with tempfile.TemporaryDirectory(prefix="seqline-compress-") as work:
        counters.doing("reading the test and train splits")
        builder = VariantBuilder(task, inputs, settings, params["fine_tune"], out.uri, work, ctx.echo)
        for i, name in enumerate(names, 1):
            rows.append(builder.build(name, f"variant {i} of {len(names)}, {name}"))
            ctx.echo(_progress(rows[-1], metric))
    counters.doing(f"{len(names)} variants built: choosing one per target, writing the report")
    if rows[0]["status"] != "ok":
        raise SeqlineError(f"Compressor: the float32 reference failed: {rows[0]['note']}")
    reference = rows[0]["metrics"]
    for row in (r for r in rows if r["status"] == "ok"):
        row["absolute_loss"], row["relative_loss"] = budget.loss(reference[metric], row["metrics"][metric])
        row["within_budget"] = budget.allows(reference[metric], row["metrics"][metric])
    selection = {t: select(rows, t, budget, reference[metric]) for t in settings["targets"]}
    chosen = {t: s["variant"] for t, s in selection.items()}

    for line in report.format_table(rows, metric, chosen).splitlines():
        ctx.echo(line)
    for target, choice in selection.items():
        ctx.echo(f"{target}: {'FLOAT MODEL (budget missed) ' if choice['fallback'] else ''}"
                 f"{choice['reason']}")
    ok = [r for r in rows if r["status"] == "ok"]
    files = [report.write_csv(rows, out.path("tradeoff.csv"), chosen),
             plots.tradeoff(ok, metric, reference[metric], budget.limit(reference[metric]),
                            out.path("tradeoff.png"))]
    edge = next((r for r in rows if r["name"] == chosen.get("edge")), None)
    if edge:
        metadata = _edge_metadata(task, inputs, edge, selection["edge"], reference, budget)
        with open(out.path("edge_metadata.json"), "w", encoding="utf-8") as fh:
            json.dump(metadata, fh, indent=2)
        files.append(out.path("edge_metadata.json"))
    with open(out.path("report.json"), "w", encoding="utf-8") as fh:
        json.dump({"budget": budget.to_dict(), "reference": reference, "selection": selection,
                   "rows": rows, **builder.reports}, fh, indent=2, default=float)
    files.append(out.path("report.json"))
    for path in files:
        ctx.log_file(path)
    ctx.log_metrics({f"{r['name']}/{key}": value for r in ok for key, value in
                     (("size_bytes", r["size_bytes"]), ("gzip_bytes", r["gzip_bytes"]),
                      ("latency_p50_ms", r["latency_p50_ms"]), (metric, r["metrics"][metric]))})
    out.properties.update(
        compressed=True, budget=budget.to_dict(), reference=reference, selection=selection,
        variants=[{k: r.get(k) for k in ("name", "target", "status", "path", "metrics")} for r in rows])
    key = {"variants_ok": len(ok), "variants": len(rows)}
    for target, name in chosen.items():
        key[f"{target}_variant"] = name
    return key
