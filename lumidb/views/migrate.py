"""What ``lumidb migrate`` shows: revisions applied, written, pending, reverted or adopted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from lumidb.console import Output
from lumidb.views.wording import View

if TYPE_CHECKING:
    from lumidb.commands.results import Drift, NothingToDo
    from lumidb.migrations import (
        AdoptResult,
        DeployResult,
        DevResult,
        DownPlan,
        DownResult,
        HistoryResult,
        MigrationStatus,
        NewRevision,
        RevisionInfo,
    )


def _revisions_table(revisions: list[RevisionInfo], *, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("revision")
    table.add_column("message")
    table.add_column("file", style="dim")
    for rev in revisions:
        table.add_row(rev.revision, escape(rev.message), escape(rev.file))
    return table


def _notices(output: Output, notices: list[str]) -> None:
    for notice in notices:
        output.err.print(f"[yellow]notice[/]: {escape(notice)}")


def deploy_result(output: Output, result: DeployResult) -> None:
    _notices(output, result.notices)
    if result.applied:
        output.out.print(
            _revisions_table(result.applied, title=f"applied {len(result.applied)} revision(s)")
        )
    else:
        output.out.print("no pending revisions")
    output.out.print(
        f"database at {', '.join(result.current)}; environment recorded: {result.environment}"
    )


def dev_result(output: Output, result: DevResult) -> None:
    _notices(output, result.notices)
    if result.generated:
        output.out.print(
            f"wrote revision {result.generated.revision}: {escape(result.generated.path)}"
        )
    if result.applied:
        output.out.print(
            _revisions_table(result.applied, title=f"applied {len(result.applied)} revision(s)")
        )
    if not (result.generated or result.applied):
        output.out.print("database is up to date with the models")
    output.out.print(f"database at {', '.join(result.current) or 'base'}")


def nothing_to_do(output: Output, result: NothingToDo) -> None:
    output.out.print(escape(result.message))


def new_revision(output: Output, result: NewRevision) -> None:
    if not result.written:
        output.out.print(
            "no changes: the models match the database, nothing written "
            "(`lumidb migrate new NAME --empty` writes an empty revision)"
        )
        return
    output.out.print(f"wrote revision {result.revision}: {escape(result.path)}")
    for op in result.operations:
        output.out.print(f"  {escape(op)}")
    if not result.operations:
        output.out.print("  (empty: fill in upgrade() and downgrade())")


def migration_status(output: Output, result: MigrationStatus) -> None:
    output.out.print(f"database: {escape(result.database)}")
    if result.unadopted:
        output.out.print(
            "[yellow]tables exist but lumidb has no history here[/]: run `lumidb migrate adopt`"
        )
    output.out.print(f"current:  {', '.join(result.current) or 'none'}")
    output.out.print(f"head:     {', '.join(result.heads)}")
    if result.pending:
        output.out.print(
            _revisions_table(result.pending, title=f"[yellow]{len(result.pending)} pending[/]")
        )
    for item in result.drift:
        output.out.print(f"[yellow]drift:[/] {escape(item)}")
    if result.up_to_date:
        output.out.print("[green]up to date[/]")


def drift(output: Output, result: Drift) -> None:
    output.out.print("the models differ from the database:")
    for item in result.items:
        output.out.print(f"  {escape(item)}")


def history_result(output: Output, result: HistoryResult) -> None:
    table = Table(show_edge=False)
    for column in ("", "revision", "message", "file"):
        table.add_column(column)
    for rev in result.revisions:
        mark = "[green]applied[/]" if rev.applied else "[yellow]pending[/]"
        table.add_row(
            mark,
            rev.revision + (" (head)" if rev.is_head else ""),
            escape(rev.message),
            escape(rev.file),
        )
    output.out.print(table)


def down_plan(output: Output, plan: DownPlan) -> None:
    where = "[bold red]PRODUCTION[/] " if plan.production else ""
    output.out.print(f"{where}database: {escape(plan.database)}")
    output.out.print(
        _revisions_table(
            plan.revert, title=f"will revert {len(plan.revert)} revision(s), down to {plan.target}"
        )
    )


def down_result(output: Output, result: DownResult) -> None:
    output.out.print(
        f"reverted {len(result.reverted)} revision(s); database at {', '.join(result.current) or 'base'}"
    )


def adopt_result(output: Output, result: AdoptResult) -> None:
    if result.already:
        output.out.print(f"already managed by lumidb (at {result.revision}); nothing to do")
    elif result.adopted:
        output.out.print(
            f"[green]adopted[/]: the schema matches revision {result.revision}, now recorded as applied"
        )
    else:
        output.out.print(f"[red]the schema differs from revision {result.revision}:[/]")
        for item in result.differences:
            output.out.print(f"  - {escape(item)}")


VIEWS: dict[str, View] = {
    "DeployResult": deploy_result,
    "DevResult": dev_result,
    "NothingToDo": nothing_to_do,
    "NewRevision": new_revision,
    "MigrationStatus": migration_status,
    "Drift": drift,
    "HistoryResult": history_result,
    "DownPlan": down_plan,
    "DownResult": down_result,
    "AdoptResult": adopt_result,
}
