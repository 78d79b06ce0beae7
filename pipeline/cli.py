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
  seqline run pipeline.yaml --beam-arg=--direct_running_mode=multi_processing \\
                            --beam-arg=--direct_num_workers=2
  seqline ui                                        # MLflow UI on the local store
  seqline serve --model-base-path examples/stock_forecast/output/serving
                                                    # TF Serving REST API on :8501

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
    ui = sub.add_parser("ui", help="start the MLflow UI on the tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    _serve_parser(sub)
    return parser


def _serve_parser(sub) -> None:
    serve = sub.add_parser(
        "serve", help="serve exported models over TensorFlow Serving's REST API",
        description="Serve every model under DIR/<name>/<integer version>/ (SavedModels with "
                    "TensorFlow, model.tflite with LiteRT) at /v1/models/<name>[:predict|/metadata]; "
                    "new versions are picked up by polling and swapped in without dropping requests.")
    serve.add_argument("--model-base-path", required=True, metavar="DIR",
                       help="folder of <name>/<version>/ models, e.g. the Pusher's serving_dir")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8501, help="default: %(default)s; 0 picks a free port")
    serve.add_argument("--versions", default="latest", metavar="POLICY",
                       help="latest (default), latest:N, all, or versions like 1,3")
    serve.add_argument("--label", action="append", default=[], metavar="MODEL:LABEL=VERSION",
                       help="name a version for /labels/<LABEL> requests (repeatable)")
    serve.add_argument("--poll-seconds", type=float, default=1.0, metavar="S",
                       help="how often to look for new versions (default: %(default)s)")
    serve.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, metavar="BYTES",
                       help="largest request body (default: %(default)s)")
    serve.add_argument("--max-batch-size", type=int, default=1024, metavar="N",
                       help="most examples in one request (default: %(default)s)")
    serve.add_argument("--allow-nan", action="store_true",
                       help="accept NaN inputs (for models that fill missing values)")
    serve.add_argument("--no-xla", dest="xla", action="store_false",
                       help="run SavedModels on the plain TensorFlow graph, without XLA compilation")
    serve.add_argument("--access-log", default="-", metavar="PATH",
                       help="JSON-lines access log: - for stdout (default), a file, or off")


def _run(args) -> int:
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    cfg = load_config(args.config)
    run_pipeline(cfg, start=args.start, until=args.until, beam_args=args.beam_arg, quiet=args.quiet)
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


def _serve(args) -> int:
    from pipeline.serving import payload, registry, server

    try:
        limits = payload.Limits(args.max_body_bytes, args.max_batch_size, args.allow_nan)
        models = registry.ModelRegistry(args.model_base_path, registry.VersionPolicy.parse(args.versions),
                                        registry.parse_labels(args.label), args.poll_seconds,
                                        args.xla)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.access_log in ("off", "-"):
        stream = None if args.access_log == "off" else sys.stdout
    else:
        try:
            stream = open(args.access_log, "a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--access-log {args.access_log}: {exc.strerror}") from None
    try:
        try:
            httpd = server.ServingServer((args.host, args.port), models, limits,
                                         server.AccessLog(stream))
        except OSError as exc:
            raise SeqlineError(f"cannot listen on {args.host}:{args.port}: "
                               f"{exc.strerror or exc}") from None
        server.run(httpd)
    finally:
        if stream not in (None, sys.stdout):
            stream.close()
    return 0


def main(argv=None) -> int:
    _quiet_libraries()
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "ui": _ui, "serve": _serve}[args.command](args)
    except SeqlineError as exc:
        kind = "config error" if exc.exit_code == 2 else "error"
        print(f"seqline: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("seqline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
