#!/usr/bin/env python
"""What does compression buy, and what does it cost, on the example pipelines?

For each example config in ``CONFIGS`` (one line per example: add yours there), runs the whole
pipeline in a temporary folder (its own MLflow store; ``--epochs`` overrides the config's), then
prints the Compressor's trade-off table (every variant scored on the test split by the runtime it
ships to, sizes raw and gzipped, CPU latency) and the issue's acceptance checks on the
full-integer ``.tflite``, each against a baseline measured in the same run:

- size: ``tflite_int8`` bytes / the ``float32`` SavedModel's weights (``variables/``): <= 0.3x;
- ops: ``UNIDIRECTIONAL_SEQUENCE_LSTM`` present, no Flex or custom op;
- latency: LiteRT batch-1 p50 (one thread) / the float SavedModel's batch-1 p50 (TensorFlow,
  its default threads; the SavedModel also runs the transform graph): <= 0.5x;
- accuracy: the int8 model's primary metric within the config's budget;

and which variant each target got. Exit status 0 whatever it measures.

``--units N`` overrides ``model.units`` to see how the ratios scale with the model's size (the
examples' own models are small: the int8 file's fixed flatbuffer overhead weighs more there).

Usage:
    .venv/bin/python bench/compression.py [--only stock] [--epochs N] [--units N] [--keep]

``speech`` needs the generated corpus (``seqline datasets spoken-digits``, see the README) and is
skipped with that message without it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

CONFIGS = {   # name -> (example config relative to the repository root, model overrides)
    "stock": ("examples/stock_forecast/pipeline.yaml", {}),
    "sensor": ("examples/sensor_forecast/pipeline.yaml", {}),
    # the example's Transformer converts from Keras 3; the checks are on an LSTM classifier
    "classify": ("examples/motion_classify/pipeline.yaml", {"type": "lstm", "bidirectional": False}),
    # needs the generated corpus (README: seqline datasets spoken-digits); trains ~11 min on 2
    # cores, --epochs 3 for a quick look. Its GRU gets no full-integer model (WHILE loop).
    "speech": ("examples/speech_digits/pipeline.yaml", {}),
}
SIZE_TARGET, LATENCY_TARGET = 0.3, 0.5


def run_example(config: str, model: dict, epochs: int | None, units: int | None, tmp: str) -> dict:
    """Run the pipeline on ``config`` (its ``model`` section updated with ``model``) inside
    ``tmp``; return the Compressor's report."""
    from seqline.pipeline.config import load_config
    from seqline.pipeline.runner import run_pipeline

    cfg = load_config(os.path.join(ROOT, config))
    cfg["pipeline_root"] = os.path.join(tmp, "pipeline")
    cfg["pusher"]["serving_dir"] = os.path.join(tmp, "serving")
    cfg["pusher"]["edge_dir"] = os.path.join(tmp, "edge")
    cfg["evaluation"]["blessing"] = {k: None for k in cfg["evaluation"]["blessing"]}  # compress it
    cfg["model"].update(model)
    if epochs:
        cfg["training"]["epochs"] = epochs
    if units:
        cfg["model"]["units"] = units
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{os.path.join(tmp, 'mlflow.db')}"
    result = run_pipeline(cfg, quiet=True)
    compression = result.artifacts[("Compressor", "compression")]
    with open(compression.path("report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    report["parameters"] = result.artifacts[("Trainer", "model")].properties["parameters"]
    report["model_type"] = cfg["model"]["type"]
    report["seconds"] = result.seconds
    return report


def checks(report: dict) -> list:
    """The acceptance checks on ``tflite_int8`` as ``(what, figure, verdict)`` lines."""
    rows = {r["name"]: r for r in report["rows"]}
    float_sm, int8 = rows["float32"], rows.get("tflite_int8")
    if not int8 or int8["status"] != "ok":
        note = int8["note"] if int8 else "not built"
        return [("full-integer int8 .tflite", "-", f"n/a: {note}")]
    metric = report["budget"]["metric"]
    size = int8["size_bytes"] / float_sm["weights_bytes"]
    latency = int8["latency_p50_ms"] / float_sm["latency_p50_ms"]
    flex = [op for op in int8["ops"] if op.startswith("CUSTOM:")]
    lines = [
        ("size int8 / float32 weights", f"{int8['size_bytes']} / {float_sm['weights_bytes']} B = "
         f"{size:.2f}x", "PASS" if size <= SIZE_TARGET else f"MISS (target <= {SIZE_TARGET}x)"),
        ("fused LSTM op, no Flex/custom",
         "UNIDIRECTIONAL_SEQUENCE_LSTM " + ("present" if "UNIDIRECTIONAL_SEQUENCE_LSTM" in int8["ops"]
                                            else "absent") + f", {len(flex)} Flex/custom",
         "PASS" if "UNIDIRECTIONAL_SEQUENCE_LSTM" in int8["ops"] and not flex else "MISS"),
        ("batch-1 p50 int8 / float SM", f"{int8['latency_p50_ms']:.3f} / "
         f"{float_sm['latency_p50_ms']:.3f} ms = {latency:.2f}x",
         "PASS" if latency <= LATENCY_TARGET else f"MISS (target <= {LATENCY_TARGET}x)"),
        (f"{metric} int8 vs float", f"{int8['metrics'][metric]:.4f} vs "
         f"{float_sm['metrics'][metric]:.4f} ({100 * int8['relative_loss']:+.2f}%)",
         "PASS" if int8["within_budget"] else "MISS (over budget)"),
    ]
    return lines


def print_report(name: str, config: str, report: dict) -> None:
    from seqline.components.compression.report import format_table

    chosen = {t: s["variant"] for t, s in report["selection"].items()}
    print(f"\n== {name}: {config} ({report['model_type']}, {report['parameters']} parameters) ==")
    print(f"pipeline {sum(report['seconds'].values()):.0f}s, of which the Compressor "
          f"{report['seconds']['Compressor']:.0f}s")
    print(format_table(report["rows"], report["budget"]["metric"], chosen))
    print()
    for what, figure, verdict in checks(report):
        print(f"  {what:<30} {figure:<44} {verdict}")
    for target, choice in report["selection"].items():
        print(f"  chosen for {target}: {choice['variant']}{' (FALLBACK)' if choice['fallback'] else ''}"
              f" - {choice['reason']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append",
                        help="run only this example (repeatable)")
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--units", type=int, default=None, help="override model.units")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    for flag in ("epochs", "units"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    from seqline.pipeline.errors import ConfigError
    from pipeline_overhead import _quiet_libraries

    _quiet_libraries()
    saved_uri = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        for name in args.only or CONFIGS:
            tmp = tempfile.mkdtemp(prefix=f"seqline-compression-{name}-")
            try:
                report = run_example(*CONFIGS[name], args.epochs, args.units, tmp)
            except ConfigError as exc:   # e.g. the speech corpus was not generated
                print(f"\n== {name}: skipped: {exc}")
                continue
            finally:
                if args.keep:
                    print(f"kept {tmp}")
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
            print_report(name, CONFIGS[name][0], report)
    finally:
        if saved_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_uri
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
