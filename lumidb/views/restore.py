"""What ``lumidb restore-latest`` shows: the plan before it asks, then what was restored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from lumidb.console import Output
from lumidb.views.wording import (
    View,
    age_text,
    format_text,
    rows_text,
    safety_backup_line,
    size_text,
)

if TYPE_CHECKING:
    from lumidb.restore import RestorePlan, RestoreResult


def restore_plan(output: Output, plan: RestorePlan) -> None:
    if plan.production:
        output.out.print("[bold red]PRODUCTION[/] database: this replaces production data")
    kind = "" if plan.backup_kind == "backup" else f" [yellow]({plan.backup_kind})[/]"
    if plan.age_seconds is None:
        age = "age unknown"
    elif plan.age_seconds < 0:
        age = "[yellow]dated in the future[/] (check the clocks)"
    else:
        age = age_text(plan.age_seconds) + " old"
    output.out.print(f"restore  {escape(plan.file)}{kind}")
    output.out.print(
        f"  backup: {age}, {size_text(plan.size)}, {format_text(plan.format, plan.compression)}"
    )
    source = plan.source_database or "unknown"
    if plan.source_host:
        source += f" on {plan.source_host}"
    revision = plan.source_revision or "unknown"
    if plan.revision_known is False:
        revision += " [yellow](unknown to this lumidb)[/]"
    output.out.print(
        f"  from:   {escape(source)}, revision {escape(revision)}, "
        f"environment {escape(plan.source_environment or 'unknown')}"
    )
    output.out.print(f"  into:   {escape(plan.target)}")
    if plan.revision_change:
        output.out.print(f"  [bold]schema[/]: {escape(plan.revision_change)}")
    if plan.another_database:
        output.out.print(
            f"  [bold yellow]another database[/]: a backup of {escape(plan.source_database or '')}"
            f" goes into {escape(plan.target_database)} (chosen with {plan.chosen_by})"
        )
    output.out.print(f"  [bold]replaces[/]: {escape(plan.replaces)}")
    if plan.jobs is not None:
        output.out.print(f"  parallel: {plan.jobs} jobs (not one transaction)")
    output.out.print(safety_backup_line(plan.safety_backup))


def restore_result(output: Output, result: RestoreResult) -> None:
    counted = f", {rows_text(result.rows)}" if result.rows else ""
    output.out.print(
        f"[green]restored[/] {escape(result.file)} into {escape(result.target)} "
        f"in {result.duration_seconds:.1f}s{counted}"
    )
    if result.undo_command:
        # the safety backup's path was reported when it was taken; say only how to undo
        output.out.print(f"  undo with: {escape(result.undo_command)}")
    if result.behind_head:
        output.out.print(
            f"  the database is now at revision {escape(result.revision or '')}, older than "
            "this code's: run `lumidb migrate deploy` to bring it up to date"
        )
    for note in result.notes:
        output.err.print(f"note: {escape(note)}")


VIEWS: dict[str, View] = {"RestorePlan": restore_plan, "RestoreResult": restore_result}
