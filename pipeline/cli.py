"""The ``seqline`` command line."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from pipeline.config import STAGES
from pipeline.errors import SeqlineError

EPILOG = """examples:
  seqline run examples/stock_forecast/pipeline.yaml
  seqline run pipeline.yaml --from Trainer          # reuse ExampleGen and Transform outputs
  seqline run pipeline.yaml --until Transform       # data stages only
  seqline run pipeline.yaml --beam-arg=--direct_running_mode=multi_processing \\
                            --beam-arg=--direct_num_workers=2
  seqline run pipeline.yaml --no-cache              # rerun every stage
  seqline schedule pipeline.yaml --cron "0 2 * * *" # every night at 02:00, in the foreground
  seqline export airflow pipeline.yaml -o dags/seqline_pipeline.py
  seqline ui                                        # MLflow UI on the local store

The tracking store is sqlite:///mlruns/mlflow.db in the current folder unless
MLFLOW_TRACKING_URI is set. Stages whose code, parameters and inputs are unchanged are
reused (--no-cache reruns them). Exit codes: 0 ok, 1 error, 2 invalid config or arguments,
3 unusable data or anomalies, 4 another run holds the pipeline root."""


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
    run.add_argument("--no-cache", action="store_true",
                     help="rerun every stage even if its code, parameters and inputs are unchanged")
    run.add_argument("--wait", action="store_true",
                     help="if another run holds the pipeline root, wait for it instead of exiting")
    run.add_argument("--quiet", action="store_true", help="print only errors")
    sched = sub.add_parser("schedule", help="run a pipeline on a cron schedule (foreground)",
                           description="Run CONFIG at every fire time of --cron (local time), one "
                                       "log line per run, until interrupted.")
    sched.add_argument("config", help="pipeline YAML file")
    sched.add_argument("--cron", required=True, metavar="EXPR",
                       help='cron expression, e.g. "0 2 * * *" or @daily')
    sched.add_argument("--misfire", choices=("run-once", "skip"), default="run-once",
                       help="fire times missed while a run was going or the machine slept: run "
                            "once right away (default) or skip them")
    sched.add_argument("--grace", type=float, default=60.0, metavar="SECONDS",
                       help="with --misfire skip: how late a run may still start (default 60)")
    sched.add_argument("--now", action="store_true", help="also run once right away")
    sched.add_argument("--max-runs", type=int, metavar="N", help="stop after N runs")
    sched.add_argument("--no-cache", action="store_true", help="pass --no-cache to every run")
    sched.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                       help="Beam pipeline option passed to every run (repeatable)")
    export = sub.add_parser("export", help="write the pipeline for another orchestrator")
    export.add_argument("target", choices=("airflow",), help="airflow: a DAG file, one task per stage")
    export.add_argument("config", help="pipeline YAML file")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="where to write it (default: seqline_<name>_dag.py here)")
    export.add_argument("--schedule", default=None, metavar="CRON",
                        help="the DAG's schedule (default: none, triggered by hand)")
    ui = sub.add_parser("ui", help="start the MLflow UI on the tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    return parser


def _run(args) -> int:
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    cfg = load_config(args.config)
    run_pipeline(cfg, start=args.start, until=args.until, beam_args=args.beam_arg, quiet=args.quiet,
                 use_cache=not args.no_cache, wait=args.wait)
    return 0


def _schedule(args) -> int:
    from pipeline.config import load_config
    from pipeline.cron import Cron
    from pipeline.schedule import run_schedule

    cron = Cron(args.cron)
    cfg = load_config(args.config)
    run_args = ["--no-cache"] if args.no_cache else []
    run_args += [f"--beam-arg={arg}" for arg in args.beam_arg]
    run_schedule(os.path.abspath(args.config), cfg["pipeline_root"], cron, misfire=args.misfire,
                 grace=args.grace, run_now=args.now, max_runs=args.max_runs, run_args=run_args,
                 log=lambda line: print(line, flush=True))
    return 0


def _export(args) -> int:
    from pipeline.airflow_export import dag_file
    from pipeline.config import load_config
    from pipeline.cron import Cron

    cfg = load_config(args.config)
    if args.schedule:
        Cron(args.schedule)
    output = args.output or f"seqline_{cfg['name']}_dag.py"
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(dag_file(cfg, args.config, args.schedule))
    print(f"wrote {output}: an Airflow DAG with one task per stage")
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
        return {"run": _run, "schedule": _schedule, "export": _export, "ui": _ui}[args.command](args)
    except SeqlineError as exc:
        kind = "config error" if exc.exit_code == 2 else "error"
        print(f"seqline: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("seqline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
