"""StatisticsGen: per-feature statistics of the Examples, per split and over all splits (each
task's records as its ``statistics_view`` shows them: values per step for sequences, a summary per
clip for audio, per line for text).

Output ``statistics``: ``statistics.json`` (see :mod:`seqline.components.data_stats`; ``all`` and one entry
per split) and ``statistics.png`` (a histogram per numeric feature, also logged to MLflow).
"""
from __future__ import annotations

import json

from seqline.pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="StatisticsGen",
    inputs={"examples": ("Examples", "ExampleGen", "examples")},
    outputs={"statistics": "ExampleStatistics"},
    description="per-feature statistics of the examples (Beam combiners)",
)
STATS_FILE = "statistics.json"


def parameters(cfg: dict) -> dict:
    return {"task": cfg["task"]}


def load(statistics) -> dict:
    """The statistics stored in an ExampleStatistics artifact."""
    with open(statistics.path(STATS_FILE), encoding="utf-8") as fh:
        return json.load(fh)


def _save(accumulators: dict, path: str) -> None:
    from seqline.components import data_stats

    merged = data_stats.ExampleStatsFn().merge_accumulators(accumulators.values())
    report = {"all": data_stats.finish(merged),
              "splits": {split: data_stats.finish(acc) for split, acc in sorted(accumulators.items())}}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, sort_keys=True)


def execute(inputs, outputs, params, ctx) -> dict:
    import os

    import apache_beam as beam

    from seqline.components import data_stats, plots
    from seqline.components.split_io import ReadSplitBatches
    from seqline.components.tasks import get_task

    examples, statistics = inputs["examples"], outputs["statistics"]
    view = get_task(params["task"]).statistics_view(examples)
    os.makedirs(statistics.uri, exist_ok=True)
    with beam.Pipeline(options=ctx.beam_options()) as p:
        batches = p | "Read" >> ReadSplitBatches(examples.uri)
        if view is not None:
            batches = batches | "View" >> beam.MapTuple(
                lambda split, batch: (split, [view(data) for data in batch]))
        (batches
         | "PerSplit" >> beam.CombinePerKey(data_stats.ExampleStatsFn())
         | "AllSplits" >> beam.combiners.ToDict()
         | "Save" >> beam.Map(_save, statistics.path(STATS_FILE)))
    stats = load(statistics)["all"]
    if stats["features"]:
        ctx.log_file(plots.feature_histograms(stats["features"], statistics.path("statistics.png"),
                                              lambda f: data_stats.sketch_points(f["sketch"])))
    ctx.log_file(statistics.path(STATS_FILE))
    spans = examples.properties.get("spans")
    statistics.properties.update(num_examples=stats["num_examples"], spans=spans,
                                 features=sorted(stats["features"]))
    worst = max((f["missing_fraction"] for f in stats["features"].values()), default=0.0)
    return {"examples": stats["num_examples"], "features": len(stats["features"]),
            "max_missing_fraction": worst,
            **({"series": stats["series"]["count"]} if stats["series"] else {})}
