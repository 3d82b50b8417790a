"""``lumidb backup``: a timestamped, checksummed pg_dump (stub: being written)."""

from __future__ import annotations

import typer


def backup(ctx: typer.Context) -> None:
    """Dump the database into the backup directory."""
