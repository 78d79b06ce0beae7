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
  seqline ui                                        # MLflow UI on the local store
  seqline datasets spoken-digits --out data/digits --n 6000   # synthesize a speech corpus
  seqline transcribe output/serving/spoken_digits clip.wav    # newest exported version

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
    tr = sub.add_parser("transcribe", help="transcribe audio files with an exported speech model")
    tr.add_argument("model", help="exported model: a version folder or the folder of its versions")
    tr.add_argument("files", nargs="+", metavar="FILE", help="WAV, FLAC or OGG files")
    return parser


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


def _datasets(args) -> int:
    from rich.progress import Progress

    from corpora.spoken_digits import generate

    with Progress(transient=True) as bar:
        task = bar.add_task("synthesizing", total=args.n)
        summary = generate(args.out, args.n, seed=args.seed, snr=tuple(args.snr),
                           workers=args.workers,
                           progress=lambda done, total: bar.update(task, completed=done))
    print(f"{summary['clips']} clips ({summary['hours']:.2f} h, {summary['sample_rate']} Hz mono) "
          f"in {args.out}/manifest.csv; {len(summary['train_speakers'])} training voices, "
          f"{len(summary['held_out_speakers'])} held out for testing "
          f"(data.test_speakers: {summary['test_speakers']})")
    return 0


def _transcribe(args) -> int:
    from components.transcribe import transcribe

    results = transcribe(args.model, args.files)
    for file, text in results:
        print(text if len(results) == 1 else f"{file}\t{text}")
    return 0


def main(argv=None) -> int:
    _quiet_libraries()
    args = _parser().parse_args(argv)
    try:
        commands = {"run": _run, "ui": _ui, "datasets": _datasets, "transcribe": _transcribe}
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
