"""SchemaGen: the schema every run's data is validated against.

On the first run (no schema file yet) it infers a schema from the train split's statistics and
saves it to ``validation.schema`` (default ``<pipeline_root>/schema.yaml``), where the user may
edit it. Later runs use that file as it is: its content, not the statistics, is then what the
cache is keyed on, so new data does not rerun SchemaGen and an edited schema does. A file that
lists no feature while the statistics have some (written before the task had statistics: it
checks nothing) is inferred again.

Output ``schema``: ``schema.yaml`` (a copy of the schema in force).
"""
from __future__ import annotations

import os

from seqline.pipeline import fingerprint
from seqline.pipeline.component import ComponentSpec

SPEC = ComponentSpec(
    name="SchemaGen",
    inputs={"statistics": ("ExampleStatistics", "StatisticsGen", "statistics")},
    outputs={"schema": "Schema"},
    description="infer the schema on the first run; later runs use the (editable) schema file",
)
SCHEMA_FILE = "schema.yaml"


def parameters(cfg: dict) -> dict:
    validation = cfg["validation"]
    return {"schema_path": validation["schema"] or os.path.join(cfg["pipeline_root"], SCHEMA_FILE),
            "max_missing_fraction": validation["max_missing_fraction"]}


def cache_inputs(params: dict, inputs: dict) -> dict:
    """The schema file's content once it exists; the statistics until then."""
    if os.path.isfile(params["schema_path"]):
        return {"schema_file": fingerprint.of_file(params["schema_path"])}
    return {"statistics": inputs["statistics"].fingerprint}


def execute(inputs, outputs, params, ctx) -> dict:
    from seqline.components import data_schema, statistics_gen

    path, schema_out = params["schema_path"], outputs["schema"]
    found = statistics_gen.load(inputs["statistics"])
    stats = found["all"]
    schema = data_schema.load(path) if os.path.isfile(path) else None
    if schema is not None and stats["features"] and not schema["features"]:
        ctx.echo(f"{path} lists no feature (a schema from before this task had statistics); "
                 "inferring it again")
        schema = None
    inferred = schema is None
    if inferred:
        # As TFX does: the schema describes the training data; eval and test are checked with it.
        train = found.get("splits", {}).get("train")
        basis = train if train and train["num_examples"] else stats
        spans = inputs["statistics"].properties.get("spans")
        source = (f"{basis['num_examples']} {'train-split ' if basis is train else ''}examples"
                  + (f" (spans {spans})" if spans else ""))
        data_schema.write(path, data_schema.render(
            data_schema.infer(basis, params["max_missing_fraction"]), source))
        ctx.echo(f"inferred the schema from {source}; saved to {path} (edit it to change the "
                 "checks)")
        schema = data_schema.load(path)
    os.makedirs(schema_out.uri, exist_ok=True)
    with open(path, encoding="utf-8") as src:
        data_schema.write(schema_out.path(SCHEMA_FILE), src.read())
    ctx.log_file(schema_out.path(SCHEMA_FILE))
    schema_out.properties.update(path=os.path.abspath(path), features=sorted(schema["features"]))
    return {"features": len(schema["features"]), "inferred": inferred}
