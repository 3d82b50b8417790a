"""The filter options ``purge`` and ``restore-inactive`` share, and their progress display."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lumidb.console import Output
    from lumidb.softdelete import BatchProgress, Progress, Selection

UsersOption = Annotated[bool, typer.Option("--users", help="Only users (default: both tables).")]
ProductsOption = Annotated[
    bool, typer.Option("--products", help="Only products (default: both tables).")
]
IdOption = Annotated[
    list[str] | None,
    typer.Option("--id", help="Only this record (user or product id); repeatable."),
]
EmailOption = Annotated[
    list[str] | None, typer.Option("--email", help="Only this user; repeatable.")
]
SkuOption = Annotated[
    list[str] | None, typer.Option("--sku", help="Only this product; repeatable.")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show the plan and change nothing.")]


def selection_of(
    users: bool,
    products: bool,
    ids: list[str] | None,
    emails: list[str] | None,
    skus: list[str] | None,
) -> Selection:
    from lumidb.softdelete import Selection

    return Selection(
        users=users,
        products=products,
        ids=tuple(ids or ()),
        emails=tuple(emails or ()),
        skus=tuple(skus or ()),
    )


def progress_for(output: Output) -> Progress | None:
    """A line per batch on a terminal; nothing for cron (silent on success)."""
    if output.quiet or output.json or not output.err.is_terminal:
        return None

    def show(batch: BatchProgress) -> None:
        output.err.print(
            f"  {batch.table}: {batch.done}/{batch.total} ({batch.seconds:.2f}s for this batch)"
        )

    return show
