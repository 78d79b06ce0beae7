"""The ``seqline`` command line."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
import warnings

from seqline.pipeline import logs
from seqline.pipeline.config_fields import STAGES
from seqline.pipeline.errors import ConfigError, SeqlineError
from seqline import __version__

LOG = logging.getLogger("seqline.cli")

EPILOG = """examples:
  seqline run examples/stock_forecast/pipeline.yaml
  seqline run pipeline.yaml --from Trainer          # reuse ExampleGen and Transform outputs
  seqline run pipeline.yaml --until Transform       # data stages only
  seqline compress pipeline.yaml                    # recompress the newest run's model, push
  seqline run pipeline.yaml --beam-arg=--direct_running_mode=multi_processing \\
                            --beam-arg=--direct_num_workers=2
  seqline run pipeline.yaml --no-cache              # rerun every stage
  seqline schedule pipeline.yaml --cron "0 2 * * *" # every night at 02:00, in the foreground
  seqline export airflow pipeline.yaml -o dags/seqline_pipeline.py
  seqline config schema -o seqline.schema.json      # JSON Schema of the config for editors
  seqline ui                                        # MLflow UI on the local store
  seqline serve --model-base-path examples/stock_forecast/output/serving
                                                    # TF Serving REST API on :8501
  seqline generate examples/char_generate/output/serving/devils_dictionary \\
                   --prompt "LAWYER, n." --length 200 --temperature 0.7 --top-k 20
  seqline datasets spoken-digits --out data/digits --n 6000   # synthesize a speech corpus
  seqline transcribe output/serving/spoken_digits clip.wav    # newest exported version

The tracking store is sqlite:///mlruns/mlflow.db in the current folder unless
MLFLOW_TRACKING_URI is set. Stages whose code, parameters and inputs are unchanged are
reused (--no-cache reruns them). Exit codes: 0 ok, 1 error, 2 invalid config or arguments,
3 unusable data or anomalies, 4 another run holds the pipeline root."""


def _quiet_libraries() -> None:
    logs.route_library_noise()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # Beam's optional BigQuery client warns on the root logger that apitools is missing;
    # seqline uses no BigQuery.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())
    # A seqline error raised inside a Beam transform is logged by Beam with its traceback
    # before it reaches the CLI, which prints it as one line.
    for name in ("apache_beam.runners.common", "apache_beam.runners.direct.executor"):
        logging.getLogger(name).addFilter(_not_a_seqline_error)


def _not_a_seqline_error(record: logging.LogRecord) -> bool:
    """False for a log record carrying a :class:`SeqlineError`."""
    return not (record.exc_info and isinstance(record.exc_info[1], SeqlineError))


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    """``-v`` and ``--quiet``, before or after the command (a command's parser leaves the values
    the main parser set unless given again)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="also show debug messages, library output included")
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="show only errors")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqline", description="Sequence-model pipelines: CSV to served model, tracked in MLflow.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"seqline {__version__}")
    _add_verbosity(parser)
    parser.set_defaults(verbose=False, quiet=False)
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
    gen = sub.add_parser("generate", help="continue a prompt with an exported language model",
                         description="Sample text from a model exported by a 'task: generate' "
                                     "pipeline; prints the prompt and its continuation.")
    gen.add_argument("model", metavar="MODEL",
                     help="<serving_dir>/<model_name> (newest version) or one version folder")
    gen.add_argument("--prompt", default="", help="text to continue (default: empty, starts a line)")
    gen.add_argument("--length", type=int, default=200, help="characters to generate (default 200)")
    gen.add_argument("--temperature", type=float, default=0.8,
                     help="sampling temperature; 0 always picks the likeliest character (default 0.8)")
    gen.add_argument("--top-k", type=int, default=0,
                     help="sample among the K likeliest characters; 0 = all (default)")
    gen.add_argument("--seed", type=int, default=None, help="random seed: the same seed, the same text")
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
    compress = sub.add_parser(
        "compress", help="rerun only the Compressor (and the Pusher) on the newest run",
        description="Reuse the newest completed outputs of ExampleGen to Evaluator, build and "
                    "measure the compressed variants again (with the config's current compression "
                    "section), then push the chosen ones next to the model.")
    compress.add_argument("config", help="pipeline YAML file")
    config = sub.add_parser("config", help="write the config's JSON Schema or its reference",
                            description="Both are generated from the config tables: a JSON Schema "
                                        "(draft 2020-12) for YAML language servers, or the "
                                        "Markdown reference of docs/configuration.md.")
    config.add_argument("what", choices=("schema", "reference"),
                        help="schema: JSON Schema; reference: Markdown")
    config.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: stdout)")
    ui = sub.add_parser("ui", help="start the MLflow UI on the tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    _serve_parser(sub)
    data = sub.add_parser("datasets", help="generate a corpus offline")
    corpora = data.add_subparsers(dest="corpus", required=True, metavar="CORPUS")
    digits = corpora.add_parser(
        "spoken-digits", help="spoken digit strings synthesized with espeak-ng (16 kHz WAV + manifest)",
        description="Synthesize N clips of 3-7 spoken digits over many espeak-ng voices, speeds and "
                    "pitches with background noise; some voice variants are held out for testing.")
    digits.add_argument("--out", required=True, help="new folder for clips/, manifest.csv, voices.json")
    digits.add_argument("--n", type=int, required=True, help="number of clips")
    digits.add_argument("--seed", type=int, default=0)
    digits.add_argument("--snr", type=float, nargs=2, default=(10.0, 30.0), metavar=("MIN", "MAX"),
                        help="background-noise SNR range in dB (default 10 30)")
    digits.add_argument("--workers", type=int, default=2, help="parallel espeak-ng processes")
    digits.add_argument("--channels", nargs="+", default=[], metavar="CHANNEL",
                        help="add a copy of every held-out (test) clip through each channel: "
                             "telephone (8 kHz, 300-3400 Hz, mu-law), noisy (0-10 dB SNR), "
                             "reverberant (synthetic room); the manifest's channel column names it")
    tr = sub.add_parser("transcribe", help="transcribe audio files with an exported speech model")
    tr.add_argument("model", help="exported model: a version folder or the folder of its versions")
    tr.add_argument("files", nargs="+", metavar="FILE",
                    help="WAV, FLAC or OGG files (any sample rate), or folders of them")
    for command in [*sub.choices.values(), *corpora.choices.values()]:
        _add_verbosity(command)
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
    serve.add_argument("--request-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="drop a connection idle this long, answer 408 to a body stalled this "
                            "long (default: %(default)s)")
    serve.add_argument("--batching", action=argparse.BooleanOptionalAction, default=True,
                       help="merge concurrent predict requests into shared model calls (default: "
                            "on; --no-batching calls the model once per request)")
    serve.add_argument("--batch-size", type=int, default=32, metavar="N",
                       help="with --batching: most examples in one merged call (default: %(default)s)")
    serve.add_argument("--batch-timeout-ms", type=float, default=0.0, metavar="MS",
                       help="with --batching: longest a request waits for others to join; 0 "
                            "merges only requests that queue behind a running call (default: "
                            "%(default)s)")
    serve.add_argument("--batch-threads", type=int, default=1, metavar="N",
                       help="with --batching: merged calls running at once per model signature "
                            "(default: %(default)s)")


def _run(args) -> int:
    from seqline.pipeline.config import load_config
    from seqline.pipeline.runner import run_pipeline

    cfg = load_config(args.config)
    run_pipeline(cfg, start=args.start, until=args.until, beam_args=args.beam_arg, quiet=args.quiet,
                 use_cache=not args.no_cache, wait=args.wait)
    return 0


def _generate(args) -> int:
    from seqline.pipeline.generate import generate

    text = generate(args.model, args.prompt, args.length, args.temperature, args.top_k, args.seed)
    print(args.prompt + text)
    return 0


def _schedule(args) -> int:
    from seqline.pipeline.config import load_config
    from seqline.pipeline.cron import Cron
    from seqline.pipeline.schedule import run_schedule

    cron = Cron(args.cron)
    cfg = load_config(args.config)
    run_args = ["--no-cache"] if args.no_cache else []
    run_args += [f"--beam-arg={arg}" for arg in args.beam_arg]
    run_schedule(os.path.abspath(args.config), cfg["pipeline_root"], cron, misfire=args.misfire,
                 grace=args.grace, run_now=args.now, max_runs=args.max_runs, run_args=run_args)
    return 0


def _export(args) -> int:
    from seqline.pipeline.airflow_export import dag_file
    from seqline.pipeline.config import load_config
    from seqline.pipeline.cron import Cron

    cfg = load_config(args.config)
    if args.schedule:
        Cron(args.schedule)
    output = args.output or f"seqline_{cfg['name']}_dag.py"
    _write_output(output, dag_file(cfg, args.config, args.schedule))
    LOG.info(f"wrote {output}: an Airflow DAG with one task per stage")
    return 0


def _config(args) -> int:
    import json

    if args.what == "schema":
        from seqline.pipeline.config_schema import config_schema

        text = json.dumps(config_schema(), indent=2) + "\n"
    else:
        from seqline.pipeline.config_reference import reference_markdown

        text = reference_markdown()
    if args.output:
        _write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file (no half-written file on failure)."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise ConfigError(f"--output {path}: {exc.strerror}") from None


def _compress(args) -> int:
    from seqline.pipeline.config import load_config
    from seqline.pipeline.runner import latest_execution, run_pipeline

    cfg = load_config(args.config)
    if latest_execution(cfg["pipeline_root"], "Evaluator") is None:
        raise ConfigError(f"compress: no completed run in {cfg['pipeline_root']}; "
                           f"run 'seqline run {args.config}' first")
    run_pipeline(cfg, start="Compressor", quiet=args.quiet)
    return 0


def _ui(args) -> int:
    import subprocess

    from seqline.pipeline import tracking

    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///") and not os.path.exists(uri[len("sqlite:///"):]):
        raise SeqlineError(f"no tracking store at {uri}; run a pipeline first")
    page = tracking.start_page("pipeline.yaml")
    LOG.info(f"MLflow UI for {uri} at http://{args.host}:{args.port}/{page or ''} "
             "(Ctrl-C stops it)")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", args.host, "--port", str(args.port)]
    root = tracking.default_artifact_root()
    if root:
        cmd += ["--default-artifact-root", root]
    # its own process group, so that stopping seqline (Ctrl-C or SIGTERM) stops the server
    # and every worker it started, and nothing is left holding the port
    server = subprocess.Popen(cmd, start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return server.wait()
    except KeyboardInterrupt:
        _stop_group(server)
        return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _descendants(pid: int) -> list:
    """Pids of every process below ``pid`` (from /proc; empty where there is none)."""
    children: dict = {}
    for entry in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else ()):
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _signal(pid: int, sig, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _stop_group(process, grace: float = 15.0) -> None:
    """SIGTERM to ``process``, its group and every process below it (a server may start its
    workers in sessions of their own), SIGKILL to what is left after ``grace`` seconds."""
    import subprocess

    below = _descendants(process.pid)
    _signal(process.pid, signal.SIGTERM, group=True)
    for pid in below:
        _signal(pid, signal.SIGTERM)
    deadline = time.time() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    for pid in below:
        while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.1)
        _signal(pid, signal.SIGKILL)
    _signal(process.pid, signal.SIGKILL, group=True)
    process.wait()


def _server_line(line: str) -> None:
    """The server's own log (loads, unloads, where it listens): stderr, as TensorFlow Serving's,
    so stdout stays free for the access log."""
    print(f"seqline serve: {line}", file=sys.stderr, flush=True)


def _serve(args) -> int:
    from seqline.serving import batching, payload, registry, server

    try:
        limits = payload.Limits(args.max_body_bytes, args.max_batch_size, args.allow_nan)
        batch = batching.BatchOptions(args.batch_size, args.batch_timeout_ms, args.batch_threads)
        if not 0 < args.request_timeout < float("inf"):
            raise ValueError(f"--request-timeout must be a number of seconds > 0, "
                             f"got {args.request_timeout}")
        models = registry.ModelRegistry(args.model_base_path, registry.VersionPolicy.parse(args.versions),
                                        registry.parse_labels(args.label), args.poll_seconds,
                                        args.xla, echo=_server_line)
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
                                         server.AccessLog(stream), args.request_timeout,
                                         batch if args.batching else None)
        except OSError as exc:
            raise SeqlineError(f"cannot listen on {args.host}:{args.port}: "
                               f"{exc.strerror or exc}") from None
        server.run(httpd)
    finally:
        if stream not in (None, sys.stdout):
            stream.close()
    return 0


def _datasets(args) -> int:
    from rich.progress import Progress

    from seqline.corpora.spoken_digits import generate

    with Progress(transient=True) as bar:
        task = bar.add_task("synthesizing", total=args.n)
        summary = generate(args.out, args.n, seed=args.seed, snr=tuple(args.snr),
                           workers=args.workers, channels=tuple(args.channels),
                           progress=lambda done, total: bar.update(task, completed=done))
    LOG.info(f"{summary['clips']} clips ({summary['hours']:.2f} h, {summary['sample_rate']} Hz "
             f"mono) in {args.out}/manifest.csv; {len(summary['train_speakers'])} training "
             f"voices, {len(summary['held_out_speakers'])} held out for testing "
             f"(data.test_speakers: {summary['test_speakers']})"
             + (f"; {summary['channel_copies']} channel copies of held-out clips "
                f"({', '.join(summary['channels'])})" if summary["channels"] else ""))
    return 0


def _transcribe(args) -> int:
    from seqline.components.transcribe import transcribe

    results = transcribe(args.model, args.files)
    for file, text in results:
        print(text if args.files == [file] else f"{file}\t{text}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    with logs.configured(logs.level_for(args.verbose, args.quiet)):
        _quiet_libraries()
        return _command(args)


def _command(args) -> int:
    """Run the parsed command; a seqline error is one line on stderr and its exit code."""
    try:
        commands = {"run": _run, "compress": _compress, "ui": _ui, "serve": _serve,
                    "generate": _generate, "datasets": _datasets, "transcribe": _transcribe,
                    "schedule": _schedule, "export": _export, "config": _config}
        return commands[args.command](args)
    except SeqlineError as exc:
        kind = "config error" if exc.exit_code == 2 else "error"
        print(f"seqline: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("seqline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
