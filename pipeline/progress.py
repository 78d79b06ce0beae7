"""Console display: one line when a stage starts and ends, the work counts of a running stage,
and a closing summary table."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from seqline.pipeline import counters

LOG = logging.getLogger("seqline.run")


def _plain_every(default: float = 10.0) -> float:
    """Seconds between plain progress lines: ``SEQLINE_PROGRESS_SECONDS`` if it is a positive
    number, else ``default``."""
    try:
        value = float(os.environ.get("SEQLINE_PROGRESS_SECONDS", default))
    except ValueError:
        return default
    return value if value > 0 else default


PLAIN_EVERY = _plain_every()


def counts_line(name: str, counts: dict, seconds: float, doing: str = "") -> str:
    """``ExampleGen: 1,234,567 rows read (45,600/s), 1,000,000 records written, 27 s``, after
    what the stage is ``doing`` if it says (``Compressor: variant 3 of 9, int8: scoring, 40 s``)."""
    parts = [f"{n:,} {unit} ({n / max(seconds, 1e-9):,.0f}/s)" if i == 0 else f"{n:,} {unit}"
             for i, (unit, n) in enumerate(counts.items())]
    return f"{name}: {', '.join(([doing] if doing else []) + parts)}, {seconds:.0f} s"


def status_line(name: str, seconds: float) -> str | None:
    """The running stage's :func:`counts_line` from the counters, ``None`` before it has any."""
    counts, doing = counters.snapshot(), counters.now_doing()
    return counts_line(name, counts, seconds, doing) if counts or doing else None


class _Counts:
    """A live view of the counters (rich renders it a few times a second)."""

    def __init__(self, name: str):
        self.name, self.started = name, time.time()

    def __rich__(self):
        line = status_line(self.name, time.time() - self.started)
        return Text(f"    {line}" if line else "", style="dim")


class Progress:
    """Prints stage progress (start and end lines, work counts, the summary table) to stdout;
    stage messages (:meth:`echo`) go through logging."""

    def __init__(self, total: int, quiet: bool = False):
        width = None if sys.stdout.isatty() else 140
        self.console = Console(file=sys.stdout, highlight=False, quiet=quiet, width=width)
        self.total = total
        self.rows = []

    def echo(self, line: str) -> None:
        """A message of the running stage, logged as info to ``seqline.run``."""
        LOG.info(line)

    def start(self, index: int, name: str, description: str) -> None:
        self.console.print(f"[bold][{index}/{self.total}] {name}[/bold] [dim]{description}[/dim]")

    @contextlib.contextmanager
    def watch(self, name: str):
        """Show the work counts while the block runs: a line that updates a few times a second
        on a terminal, a plain line every ``SEQLINE_PROGRESS_SECONDS`` (10) otherwise."""
        counters.reset()
        if self.console.quiet:
            yield
        elif self.console.is_terminal:
            from rich.live import Live

            with Live(_Counts(name), console=self.console, transient=True,
                      refresh_per_second=4):
                yield
        else:
            stop = threading.Event()
            thread = threading.Thread(target=self._plain_lines, args=(name, stop), daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join()

    def _plain_lines(self, name: str, stop: threading.Event) -> None:
        started = time.time()
        while not stop.wait(PLAIN_EVERY):
            line = status_line(name, time.time() - started)
            if line:
                self.console.print(f"    {line}", markup=False)

    def done(self, name: str, seconds: float, metrics: dict, where: str, status: str = "done"):
        mark = {"done": "[green]✓[/green]", "reused": "[cyan]↺[/cyan]"}.get(status, status)
        self.console.print(f"    {mark} {name} {status} in {seconds:.1f}s")
        self.rows.append((name, status, f"{seconds:.1f}s", _fmt_metrics(metrics), where))

    def failed(self, name: str, seconds: float, message: str) -> None:
        self.console.print(f"    [red]✗ {name} failed after {seconds:.1f}s:[/red] {escape(message)}",
                           markup=True)
        self.rows.append((name, "failed", f"{seconds:.1f}s", message[:60], ""))

    def summary(self, title: str) -> None:
        table = Table(title=title, title_justify="left")
        for col in ("stage", "status", "time", "key metrics", "artifacts"):
            table.add_column(col, overflow="fold")
        for row in self.rows:
            table.add_row(*(Text(cell) for cell in row))
        self.console.print(table)


def _fmt_metrics(metrics: dict) -> str:
    parts = []
    for key, value in list(metrics.items())[:8]:
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
