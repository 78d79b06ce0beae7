"""Console display: one line when a stage starts and ends, and a closing summary table."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


class Progress:
    """Prints stage progress to stderr-friendly console output."""

    def __init__(self, total: int, quiet: bool = False):
        width = None if sys.stdout.isatty() else 140
        self.console = Console(file=sys.stdout, highlight=False, quiet=quiet, width=width)
        self.total = total
        self.rows = []

    def echo(self, line: str) -> None:
        self.console.print(f"    {line}", markup=False)

    def start(self, index: int, name: str, description: str) -> None:
        self.console.print(f"[bold][{index}/{self.total}] {name}[/bold] [dim]{description}[/dim]")

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
