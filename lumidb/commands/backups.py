"""``lumidb backups``: list, verify and prune backups (stub: being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, verify and prune backups.", no_args_is_help=True)
