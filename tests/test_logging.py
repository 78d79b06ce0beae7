"""Logging conventions: -v shows debug, --quiet only errors; library noise (the TFLite
converter's C++ lines, MLflow's registry prints, TensorFlow's retracing warnings) goes to debug."""
from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

from seqline.pipeline import logs
from tests.forecast_fixtures import ROOT

STOCK = os.path.join(ROOT, "examples", "stock_forecast", "pipeline.yaml")


def export(tmp_path, *flags) -> subprocess.CompletedProcess:
    """``seqline [flags] export airflow STOCK -o ...``: logs an info line, and a debug one."""
    return subprocess.run([sys.executable, "-m", "seqline", *flags, "export", "airflow", STOCK,
                           "-o", str(tmp_path / "dag.py")], env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def rendered():
    """The ``seqline`` loggers rendered at debug into a string."""
    out = io.StringIO()
    console = Console(file=out, highlight=False, width=80)
    with logs.configured(logging.DEBUG, logs.RichHandler(console, console)):
        yield out


def test_verbose_shows_debug_lines_default_shows_info(tmp_path):
    plain, verbose = export(tmp_path), export(tmp_path, "-v")
    assert plain.returncode == verbose.returncode == 0, plain.stderr + verbose.stderr
    assert plain.stdout.startswith("wrote ") and "debug:" not in plain.stdout + plain.stderr
    assert f"debug: {STOCK}: a valid 'forecast' config" in verbose.stdout
    assert "wrote " in verbose.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_hides_info_but_not_errors(tmp_path, where):
    flags = ["--quiet"] if where == "before" else []
    done = subprocess.run([sys.executable, "-m", "seqline", *flags, "export", "airflow", STOCK,
                           "-o", str(tmp_path / "dag.py"), *(["-q"] if where == "after" else [])],
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert (tmp_path / "dag.py").exists()
    bad = export(tmp_path / "missing", "--quiet")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == f"seqline: config error: --output {tmp_path / 'missing' / 'dag.py'}: " \
                         "No such file or directory\n"


def test_a_command_run_in_process_leaves_logging_as_it_found_it(capsys):
    from seqline.pipeline.cli import main

    logger = logging.getLogger("seqline")
    before = logger.handlers[:], logger.level, logger.propagate
    assert main(["config", "schema"]) == 0
    assert capsys.readouterr().out.startswith("{")
    assert (logger.handlers[:], logger.level, logger.propagate) == before


def test_messages_are_prefixed_by_level_and_not_wrapped(rendered):
    log = logging.getLogger("seqline.test")
    log.debug("a detail")
    log.info("x" * 120)
    log.warning("look [here]")
    assert rendered.getvalue().splitlines() == ["debug: a detail", "x" * 120,
                                                "warning: look [here]"]


def test_the_converter_noise_reaches_neither_stdout_nor_stderr(capfd, caplog):
    import keras

    from seqline.components.compression import tflite_export

    inputs = keras.Input((8, 2))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    calibration = np.random.default_rng(0).random((16, 8, 2), dtype=np.float32)
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG, logger="seqline"):
        flatbuffer = tflite_export.convert(model, "int8", calibration)
    shown = capfd.readouterr()
    assert flatbuffer[4:8] == b"TFL3"
    assert "fully_quantize" not in shown.out + shown.err
    debug = [r.getMessage() for r in caplog.records if r.name == "seqline.compression"]
    assert any(m.startswith("TFLite converter: fully_quantize: 0, inference_type: 6")
               for m in debug), debug


def test_mlflow_registry_prints_and_native_writes_become_debug_records(capfd, rendered):
    from mlflow.utils.logging_utils import eprint

    with logs.stderr_to_debug(logging.getLogger("seqline.pusher"), "MLflow"):
        eprint("Successfully registered model 'msft'.")
        eprint("Created version '1' of model 'msft'.")
        os.write(2, b"a native line\n")
    shown = capfd.readouterr()
    assert shown.out == shown.err == ""
    assert rendered.getvalue().splitlines() == [
        "debug: MLflow: a native line", "debug: MLflow: Successfully registered model 'msft'.",
        "debug: MLflow: Created version '1' of model 'msft'."]


def test_retracing_warnings_become_debug_records(caplog):
    import tensorflow as tf

    logs.route_library_noise()

    @tf.function
    def identity(x):
        return x

    with caplog.at_level(logging.DEBUG):
        for i in range(8):                       # a Python number: one trace per value
            identity(i)
    assert not [r for r in caplog.records if r.name == "tensorflow"]
    assert any("triggered tf.function retracing" in r.getMessage() and r.levelno == logging.DEBUG
               for r in caplog.records if r.name == "seqline.libraries")
