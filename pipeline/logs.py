"""Logging conventions: seqline's code logs to the ``seqline`` logger hierarchy (e.g.
``seqline.run``, ``seqline.schedule``); the command line renders it with rich
(:func:`configured`): info and debug on stdout, warnings and errors on stderr.

Library noise goes to debug: :func:`stderr_to_debug` captures what C++ code (the TFLite converter)
and libraries (MLflow's registry messages) write to stderr during a block, and
:func:`route_library_noise` turns TensorFlow's retracing warnings into debug records.

Example:
    >>> log = logging.getLogger("seqline.example")
    >>> with stderr_to_debug(log, "converter"):
    ...     convert()            # its stderr lines become debug records of seqline.example
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile

from rich.console import Console
from rich.markup import escape

ROOT = "seqline"


def _style(level: int) -> tuple:
    """``(rich style, prefix)`` of a record's level."""
    if level >= logging.ERROR:
        return "red", "error: "
    if level >= logging.WARNING:
        return "yellow", "warning: "
    return ("", "") if level >= logging.INFO else ("dim", "debug: ")


class RichHandler(logging.Handler):
    """One line per record, through rich consoles: ``indent`` + message, prefixed ``debug:``,
    ``warning:`` or ``error:`` and coloured on a terminal. Lines are not wrapped (log files stay
    greppable)."""

    def __init__(self, out: Console | None = None, err: Console | None = None, level=logging.INFO):
        super().__init__(level)
        # without a file, a console writes to sys.stdout/stderr as they are at each print, so a
        # rich live display (which redirects them) shows the lines above itself
        self.out = out or Console(highlight=False)
        self.err = err or Console(stderr=True, highlight=False)
        self.indent = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            style, prefix = _style(record.levelno)
            text = escape(prefix + record.getMessage())
            if record.exc_info and record.levelno >= logging.ERROR:
                text += "\n" + escape(logging.Formatter().formatException(record.exc_info))
            console = self.err if record.levelno >= logging.WARNING else self.out
            line = f"{self.indent}{text}"
            console.print(f"[{style}]{line}[/{style}]" if style else line, soft_wrap=True)
        except Exception:                 # as logging.StreamHandler does
            self.handleError(record)


def level_for(verbose: int, quiet: bool) -> int:
    """``-v``: debug; ``--quiet``: errors only; else info."""
    return logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO


@contextlib.contextmanager
def configured(level: int = logging.INFO, handler: logging.Handler | None = None):
    """Render the ``seqline`` loggers at ``level`` through ``handler`` (a :class:`RichHandler` by
    default) during the block, instead of any earlier handler; the logger is restored after (so
    a command run in-process, by a test say, leaves logging as it found it)."""
    logger = logging.getLogger(ROOT)
    saved = logger.handlers[:], logger.level, logger.propagate
    handler = handler or RichHandler()
    handler.setLevel(level)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


@contextlib.contextmanager
def shown_on(console: Console, indent: str = ""):
    """Show ``seqline`` info records on ``console`` during the block, indented by ``indent``:
    through the handler :func:`configured` installed, else a temporary one (a library caller that
    set up no logging still sees a run's messages, as it sees its progress lines)."""
    logger = logging.getLogger(ROOT)
    handler = next((h for h in logger.handlers if isinstance(h, RichHandler)), None)
    added, level = handler is None, logger.level
    if added:
        handler = RichHandler(console, level=logging.INFO)
        logger.addHandler(handler)
        logger.setLevel(min(level or logging.INFO, logging.INFO))
    before, handler.indent = handler.indent, indent
    try:
        yield
    finally:
        handler.indent = before
        if added:
            logger.removeHandler(handler)
            logger.setLevel(level)


@contextlib.contextmanager
def stderr_to_debug(logger: logging.Logger, what: str):
    """Capture stderr during the block, at the file-descriptor level (C++ writes) and
    ``sys.stderr`` (Python writes), and log each captured line as debug ``"<what>: <line>"``."""
    sys.stderr.flush()
    saved = os.dup(2)
    text = io.StringIO()
    with tempfile.TemporaryFile() as native:
        os.dup2(native.fileno(), 2)
        try:
            with contextlib.redirect_stderr(text):
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            native.seek(0)
            lines = native.read().decode("utf-8", "replace").splitlines()
            lines += text.getvalue().splitlines()
            for line in filter(str.strip, lines):
                logger.debug("%s: %s", what, line)


def _retracing_to_debug(record: logging.LogRecord) -> bool:
    if "retracing" not in record.getMessage():
        return True
    logging.getLogger(f"{ROOT}.libraries").debug("tensorflow: %s", record.getMessage())
    return False


def route_library_noise() -> None:
    """TensorFlow's (and so Keras's) ``tf.function`` retracing warnings become seqline debug
    records."""
    tf_logger = logging.getLogger("tensorflow")
    if _retracing_to_debug not in tf_logger.filters:
        tf_logger.addFilter(_retracing_to_debug)
