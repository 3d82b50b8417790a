"""What ``lumidb seed`` shows: rows created or kept, the admin, or the synthetic volume added."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from lumidb.console import Output
from lumidb.views.wording import View

if TYPE_CHECKING:
    from lumidb.scale import ScaleResult
    from lumidb.seed import SeedResult


def seed_result(output: Output, result: SeedResult) -> None:
    """Also the last part of what ``reset`` and ``setup`` show when they seeded."""
    table = Table(title=f"seed of {escape(result.database)}", title_justify="left")
    for column in ("table", "created", "already there", "refreshed"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name in ("users", "products"):
        outcomes = [item.outcome for item in result.items if item.table == name]
        table.add_row(
            name,
            str(outcomes.count("created")),
            str(outcomes.count("already there")),
            str(outcomes.count("refreshed")),
        )
    output.out.print(table)
    output.out.print(f"admin: {escape(result.admin_email)}")
    if result.admin_password is not None and output.err.is_terminal:
        # shown once, and on the terminal's stderr: never into a file stdout may go to
        # (--json carries it in the one document instead)
        output.err.print(
            f"  [bold]generated password[/] (shown only now): {escape(result.admin_password)}"
        )
    elif result.password_hint:
        output.out.print(
            f"  its password was generated and not shown; {escape(result.password_hint)}"
        )


def scale_result(output: Output, result: ScaleResult) -> None:
    output.out.print(
        f"[green]appended[/] {result.rows:,} rows in {result.seconds:.1f}s "
        f"({result.rows_per_second:,.0f} rows/s, random seed {result.random_seed}) "
        f"to {escape(result.database)}"
    )
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("soft-deleted", justify="right")
    table.add_row("users", f"{result.users:,}", f"{result.soft_deleted_users:,}")
    table.add_row("products", f"{result.products:,}", f"{result.soft_deleted_products:,}")
    table.add_row("orders", f"{result.orders:,}", "")
    table.add_row("order_items", f"{result.order_items:,}", "")
    table.add_row("skin_analyses", f"{result.skin_analyses:,}", "")
    output.out.print(table)


VIEWS: dict[str, View] = {"SeedResult": seed_result, "ScaleResult": scale_result}
