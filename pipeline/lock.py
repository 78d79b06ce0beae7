"""One run at a time per pipeline root: an exclusive ``fcntl.flock`` on ``<pipeline_root>/.lock``.

The operating system releases a flock when its process dies, however it dies (SIGKILL included),
so a crashed run never leaves a lock that blocks the next one. The file also records who holds
the lock (pid, host, start time, command) for the message a second run prints.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import time

from seqline.pipeline.errors import SeqlineError

LOCK_FILE = ".lock"


class PipelineBusy(SeqlineError):
    """Another run holds the pipeline root's lock."""

    exit_code = 4


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (perhaps another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(pipeline_root: str, name: str = LOCK_FILE) -> dict:
    """What the lock file says about the process holding it (may be empty or stale)."""
    try:
        with open(os.path.join(pipeline_root, name), encoding="utf-8") as fh:
            return json.loads(fh.read() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return (f"pid {info.get('pid')} on {info.get('host')}, started {started}: "
            f"{info.get('command', '?')}")


@contextlib.contextmanager
def pipeline_lock(pipeline_root: str, wait: bool = False, echo=None, name: str = LOCK_FILE,
                  what: str = "run"):
    """Hold the lock of ``pipeline_root`` for the ``with`` block.

    Raises :class:`PipelineBusy` when another process holds it, unless ``wait`` (then blocks).
    ``name`` is the lock file (a scheduler has its own), ``what`` names the holder in messages,
    ``echo`` shows the waiting message (default: info of the ``seqline.lock`` logger).
    """
    echo = echo or logging.getLogger("seqline.lock").info
    os.makedirs(pipeline_root, exist_ok=True)
    path = os.path.join(pipeline_root, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _describe(holder(pipeline_root, name))
            if not wait:
                hint = "try again when it finishes, or add --wait" if what == "run" else \
                    f"stop that {what} first"
                raise PipelineBusy(f"pipeline root {pipeline_root} is in use by {info}; "
                                   f"{hint}") from None
            echo(f"waiting for the {what} holding {pipeline_root} ({info})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(fd)   # releases the lock
