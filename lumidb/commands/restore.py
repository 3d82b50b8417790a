"""``lumidb restore-latest``: restore the newest good backup (stub: being written)."""

from __future__ import annotations

import typer


def restore_latest(ctx: typer.Context) -> None:
    """Restore the newest complete backup."""
