"""The two consoles of lumidb, and the one place that builds them.

Data goes to stdout; progress, warnings and errors go to stderr. ``NO_COLOR`` is
honoured by rich itself; a non-terminal stdout gets no colour and no markup codes,
so output stays readable in a log file.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape


def _width(stream: Any) -> int | None:
    """A terminal's own width; elsewhere ``COLUMNS`` when set (as a person may, to see what
    an 80-column terminal shows), else 200 so logs keep whole lines."""
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 200


def _make_console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        width=_width(stream),
    )


@dataclass
class Output:
    """Where a command writes: ``out`` for data, ``err`` for everything else."""

    json: bool = False
    quiet: bool = False
    out: Console = field(default_factory=lambda: _make_console(stderr=False))
    err: Console = field(default_factory=lambda: _make_console(stderr=True))

    @property
    def interactive(self) -> bool:
        """True when a person can answer a prompt (stdin and stderr are terminals)."""
        return sys.stdin.isatty() and sys.stderr.isatty()

    def emit_json(self, document: dict[str, Any]) -> None:
        """Print one JSON document on stdout, nothing else."""
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def info(self, message: str) -> None:
        """A progress line on stderr; silent with --quiet or --json."""
        if not (self.quiet or self.json):
            self.err.print(message)

    def warn(self, message: str) -> None:
        """A warning on stderr; shown even with --quiet, since cron mails stderr."""
        self.err.print(f"[yellow]warning:[/] {escape(message)}")

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {escape(message)}")
