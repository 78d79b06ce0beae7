"""The ``seqline`` command line."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from pipeline.config import STAGES
from pipeline.errors import ConfigError, SeqlineError

EPILOG = """examples:
  seqline run examples/stock_forecast/pipeline.yaml
  seqline run pipeline.yaml --from Trainer          # reuse ExampleGen and Transform outputs
  seqline run pipeline.yaml --until Transform       # data stages only
  seqline compress pipeline.yaml                    # recompress the newest run's model, push
  seqline run pipeline.yaml --beam-arg=--direct_running_mode=multi_processing \\
                            --beam-arg=--direct_num_workers=2
  seqline ui                                        # MLflow UI on the local store

The tracking store is sqlite:///mlruns/mlflow.db in the current folder unless
MLFLOW_TRACKING_URI is set. Exit codes: 0 ok, 1 error, 2 invalid config or arguments,
3 unusable data."""


def _quiet_libraries() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqline", description="Sequence-model pipelines: CSV to served model, tracked in MLflow.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a pipeline from its YAML config",
                         description="Validate CONFIG, then run its stages in order: "
                                     + " -> ".join(STAGES) + ".")
    run.add_argument("config", help="pipeline YAML file")
    run.add_argument("--from", dest="start", choices=STAGES, metavar="STAGE",
                     help="start at STAGE, reusing the newest outputs of earlier stages")
    run.add_argument("--until", choices=STAGES, metavar="STAGE", help="stop after STAGE")
    run.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                     help="Beam pipeline option passed through, e.g. --beam-arg=--runner=FlinkRunner "
                          "(repeatable)")
    run.add_argument("--quiet", action="store_true", help="print only errors")
    compress = sub.add_parser(
        "compress", help="rerun only the Compressor (and the Pusher) on the newest run",
        description="Reuse the newest completed outputs of ExampleGen to Evaluator, build and "
                    "measure the compressed variants again (with the config's current compression "
                    "section), then push the chosen ones next to the model.")
    compress.add_argument("config", help="pipeline YAML file")
    compress.add_argument("--quiet", action="store_true", help="print only errors")
    ui = sub.add_parser("ui", help="start the MLflow UI on the tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    return parser


def _run(args) -> int:
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    cfg = load_config(args.config)
    run_pipeline(cfg, start=args.start, until=args.until, beam_args=args.beam_arg, quiet=args.quiet)
    return 0


def _compress(args) -> int:
    from pipeline.config import load_config
    from pipeline.runner import latest_execution, run_pipeline

    cfg = load_config(args.config)
    if latest_execution(cfg["pipeline_root"], "Evaluator") is None:
        raise ConfigError(f"compress: no completed run in {cfg['pipeline_root']}; "
                           f"run 'seqline run {args.config}' first")
    run_pipeline(cfg, start="Compressor", quiet=args.quiet)
    return 0


def _ui(args) -> int:
    import subprocess

    from pipeline import tracking

    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///") and not os.path.exists(uri[len("sqlite:///"):]):
        raise SeqlineError(f"no tracking store at {uri}; run a pipeline first")
    print(f"MLflow UI for {uri} at http://{args.host}:{args.port} (Ctrl-C stops it)")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", args.host, "--port", str(args.port)]
    root = tracking.default_artifact_root()
    if root:
        cmd += ["--default-artifact-root", root]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def main(argv=None) -> int:
    _quiet_libraries()
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "compress": _compress, "ui": _ui}[args.command](args)
    except SeqlineError as exc:
        kind = "config error" if exc.exit_code == 2 else "error"
        print(f"seqline: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("seqline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
