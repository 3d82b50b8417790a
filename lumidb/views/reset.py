"""What ``lumidb reset`` shows: what it will drop, then the rebuilt database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from lumidb.console import Output
from lumidb.views.seed import seed_result
from lumidb.views.wording import View, rows_text

if TYPE_CHECKING:
    from lumidb.reset import ResetPlan, ResetResult


def reset_plan(output: Output, plan: ResetPlan) -> None:
    output.out.print(
        f"[bold]reset[/] {escape(plan.target)} ({escape(plan.environment)}): schema "
        f"{escape(plan.schema)!r} is dropped and rebuilt from the migrations"
        + (", then seeded" if plan.seed else "")
    )
    output.out.print(f"  drops: {len(plan.drops)} object(s), {rows_text(plan.row_counts)}")
    for item in plan.drops:
        output.out.print(f"    {escape(item)}")
    for session in plan.sessions:
        output.out.print(f"  [yellow]connected:[/] {escape(session)}")
    output.out.print(
        "  a safety backup is taken first"
        if plan.safety_backup
        else "  [yellow]no safety backup[/] (--no-safety-backup): no undo"
    )


def reset_result(output: Output, result: ResetResult) -> None:
    output.out.print(
        f"[green]reset[/] {escape(result.database)}: dropped {result.dropped} object(s), "
        f"now at revision {escape(result.revision)} in {result.duration_seconds:.1f}s"
    )
    if result.undo_command:
        output.out.print(f"  undo with: {escape(result.undo_command)}")
    if result.seeded is not None:
        seed_result(output, result.seeded)


VIEWS: dict[str, View] = {"ResetPlan": reset_plan, "ResetResult": reset_result}
