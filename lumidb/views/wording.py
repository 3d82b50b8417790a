"""How sizes, ages, row totals and check marks read, the same in every view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.filesize import decimal
from rich.markup import escape

from lumidb.console import Output

View = Callable[[Output, Any], None]

# lumidb's and Prisma's bookkeeping tables: not the application's data, so not counted
# in what a person reads (the JSON keeps every table).
_BOOKKEEPING = frozenset({"alembic_version", "_prisma_migrations"})


def ok_mark(flag: bool) -> str:
    return "[green]✓[/]" if flag else "[red]✗[/]"


def size_text(size: int) -> str:
    """``1.5 MB``: decimal units, as ``ls -h --si`` and most file managers show them."""
    return decimal(size)


def format_text(format: str, compression: str) -> str:
    return format if compression == "none" else f"{format}+{compression}"


def rows_text(row_counts: dict[str, int]) -> str:
    shown = {k: v for k, v in row_counts.items() if k not in _BOOKKEEPING}  # bare names
    return f"{sum(shown.values())} rows in {len(shown)} tables"


def age_text(seconds: float) -> str:
    if seconds < 0:
        return "in the future"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def some(ids: list[str], limit: int = 10) -> str:
    """The first ``limit`` names, then how many more."""
    shown = ", ".join(escape(i) for i in ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


def safety_backup_line(taken: bool) -> str:
    return "  safety backup first: " + (
        "yes (so it can be undone)" if taken else "[yellow]no (no undo)[/]"
    )
