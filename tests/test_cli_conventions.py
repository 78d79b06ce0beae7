"""Command-line conventions: ``seqline --version``, ``python -m seqline``, one version source."""
from __future__ import annotations

import os
import subprocess
import sys

import seqline
from tests.forecast_fixtures import ROOT

ENV = dict(os.environ, PYTHONPATH=ROOT)


def seqline_module(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqline", *args], env=kw.pop("env", ENV),
                          capture_output=True, text=True, timeout=120, **kw)


def test_version_flag_prints_the_package_version():
    done = seqline_module("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"seqline {seqline.__version__}"


def test_python_m_seqline_runs_the_cli():
    done = seqline_module("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: seqline ")
    assert "schedule" in done.stdout and "Exit codes" in done.stdout
    bad = seqline_module("run")
    assert bad.returncode == 2 and "the following arguments are required: config" in bad.stderr


def test_setup_reads_the_version_from_the_package():
    done = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == seqline.__version__
