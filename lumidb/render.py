"""The one place that turns results into output: a rich view for people, JSON for programs.

Every result a command shows passes through ``show``: with ``--json`` it becomes one
JSON document on stdout (``{"version": 1, "kind": ..., ...}``, the same fields a
person sees); with ``--quiet`` nothing; otherwise the view registered for its type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lumidb.console import Output

JSON_VERSION = 1
T = TypeVar("T")
# Views are keyed by the result's class name, so importing this module imports no core
# module (and none of their heavy libraries): `lumidb --help` stays fast.
_VIEWS: dict[str, Callable[[Output, Any], None]] = {}


@dataclasses.dataclass(frozen=True)
class ServerStopped:
    stopped: bool
    state_dir: str


@dataclasses.dataclass(frozen=True)
class Drift:
    items: list[str]


@dataclasses.dataclass(frozen=True)
class NothingToDo:
    """A command that found nothing to do (exit 0)."""

    message: str


def view(kind: str) -> Callable[[Callable[[Output, T], None]], Callable[[Output, T], None]]:
    def register(func: Callable[[Output, T], None]) -> Callable[[Output, T], None]:
        _VIEWS[kind] = func
        return func

    return register


def to_document(result: Any) -> dict[str, Any]:
    """The JSON document of a result: a stable shape with a version field."""
    body = (
        dataclasses.asdict(result, dict_factory=_json_fields)
        if dataclasses.is_dataclass(result) and not isinstance(result, type)
        else {"value": result}
    )
    for name in ("ok", "up_to_date", "revision_change"):
        if hasattr(result, name) and name not in body:
            body[name] = getattr(result, name)
    if "version" in body or "kind" in body:
        raise TypeError(f"{type(result).__name__} must not have a field named version or kind")
    return {"version": JSON_VERSION, "kind": _kind(type(result)), **body}


def _json_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A dataclass's fields for JSON; a pydantic model inside (a manifest) as its JSON form."""
    return {
        key: value.model_dump(mode="json", by_alias=True) if hasattr(value, "model_dump") else value
        for key, value in pairs
    }


def _kind(kind: type) -> str:
    name = kind.__name__
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def show(output: Output, result: Any, *, to_stderr: bool = False) -> None:
    """Render ``result``: JSON, nothing (quiet), or its human view.

    ``to_stderr`` shows a plan to a person even in ``--json`` mode without touching
    stdout, which then carries only the final document.
    """
    if output.json and not to_stderr:
        output.emit_json(to_document(result))
        return
    if output.quiet:
        return
    viewer = _VIEWS.get(type(result).__name__)
    if viewer is None:
        output.out.print(escape(str(result)))
        return
    if to_stderr:
        viewer(Output(json=False, quiet=False, out=output.err, err=output.err), result)
    else:
        viewer(output, result)


def _ok(flag: bool) -> str:
    return "[green]✓[/]" if flag else "[red]✗[/]"


# --- views ----------------------------------------------------------------------------
if TYPE_CHECKING:
    from lumidb import doctor as _doctor
    from lumidb import migrations as _m
    from lumidb import server as _server


@view("DoctorReport")
def _doctor_view(output: Output, report: _doctor.DoctorReport) -> None:
    for check in report.checks:
        mark = "[yellow]![/]" if check.warning else _ok(check.ok)
        output.out.print(f"{mark} [bold]{check.name}[/]: {escape(check.detail)}")
        if check.fix and (check.warning or not check.ok):
            output.out.print(f"    [yellow]fix:[/] {escape(check.fix)}")
    warned = any(c.warning for c in report.checks)
    if not report.ok:
        summary = "[red]some checks failed[/]"
    else:
        summary = "[green]all checks passed[/]" + (" [yellow](with warnings)[/]" if warned else "")
    output.out.print(summary)


@view("ServerStatus")
def _server_status_view(output: Output, status: _server.ServerStatus) -> None:
    if not status.created:
        output.out.print(
            f"no local server yet in {escape(status.state_dir)} (`lumidb server start` creates one)"
        )
        return
    state = "[green]running[/]" if status.running else "[yellow]stopped[/]"
    output.out.print(
        f"local PostgreSQL {status.postgres_version}: {state} (pid {status.pid or '-'})"
    )
    output.out.print(f"  data: {escape(status.state_dir)}")
    output.out.print(f"  url:  {escape(status.url or '')}")


@view("StartResult")
def _server_start_view(output: Output, result: _server.StartResult) -> None:
    if result.created:
        what = "created and started"
    elif result.started:
        what = "started"
    else:
        what = "already running"
    output.out.print(f"local PostgreSQL {what}: {escape(result.url)}")
    for change in result.opened:
        output.err.print(
            f"opened for the server's system user (o+x, traversal only): {escape(change)}"
        )


@view("ServerStopped")
def _server_stopped_view(output: Output, result: ServerStopped) -> None:
    output.out.print(
        "local PostgreSQL stopped" if result.stopped else "local PostgreSQL was not running"
    )


def _revisions_table(revisions: list[_m.RevisionInfo], *, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("revision")
    table.add_column("message")
    table.add_column("file", style="dim")
    for rev in revisions:
        table.add_row(rev.revision, escape(rev.message), escape(rev.file))
    return table


@view("DeployResult")
def _deploy_view(output: Output, result: _m.DeployResult) -> None:
    for notice in result.notices:
        output.err.print(f"[yellow]notice[/]: {escape(notice)}")
    if result.applied:
        output.out.print(
            _revisions_table(result.applied, title=f"applied {len(result.applied)} revision(s)")
        )
    else:
        output.out.print("no pending revisions")
    output.out.print(
        f"database at {', '.join(result.current)}; environment recorded: {result.environment}"
    )


@view("DevResult")
def _dev_view(output: Output, result: _m.DevResult) -> None:
    for notice in result.notices:
        output.err.print(f"[yellow]notice[/]: {escape(notice)}")
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


@view("NothingToDo")
def _nothing_view(output: Output, result: NothingToDo) -> None:
    output.out.print(escape(result.message))


@view("NewRevision")
def _new_view(output: Output, result: _m.NewRevision) -> None:
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


@view("MigrationStatus")
def _status_view(output: Output, result: _m.MigrationStatus) -> None:
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


@view("Drift")
def _drift_view(output: Output, result: Drift) -> None:
    output.out.print("the models differ from the database:")
    for item in result.items:
        output.out.print(f"  {escape(item)}")


@view("HistoryResult")
def _history_view(output: Output, result: _m.HistoryResult) -> None:
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


@view("DownPlan")
def _down_plan_view(output: Output, plan: _m.DownPlan) -> None:
    where = "[bold red]PRODUCTION[/] " if plan.production else ""
    output.out.print(f"{where}database: {escape(plan.database)}")
    output.out.print(
        _revisions_table(
            plan.revert, title=f"will revert {len(plan.revert)} revision(s), down to {plan.target}"
        )
    )


@view("DownResult")
def _down_view(output: Output, result: _m.DownResult) -> None:
    output.out.print(
        f"reverted {len(result.reverted)} revision(s); database at {', '.join(result.current) or 'base'}"
    )


@view("AdoptResult")
def _adopt_view(output: Output, result: _m.AdoptResult) -> None:
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


# --- backups ---------------------------------------------------------------------------
if TYPE_CHECKING:
    from lumidb import backup as _backup
    from lumidb import listing as _listing
    from lumidb import prune as _prune


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _format_text(format: str, compression: str) -> str:
    return format if compression == "none" else f"{format}+{compression}"


# lumidb's and Prisma's bookkeeping tables: not the application's data, so not counted
# in what a person reads (the JSON keeps every table).
_BOOKKEEPING = frozenset({"alembic_version", "_prisma_migrations"})


def _rows_text(row_counts: dict[str, int]) -> str:
    shown = {
        k: v for k, v in row_counts.items() if k.rsplit(".", 1)[-1].strip('"') not in _BOOKKEEPING
    }
    return f"{sum(shown.values())} rows in {len(shown)} tables"


def _age_text(seconds: float) -> str:
    if seconds < 0:
        return "in the future"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


@view("BackupResult")
def _backup_view(output: Output, result: _backup.BackupResult) -> None:
    manifest = result.manifest
    output.out.print(
        f"[green]backup written[/]: {escape(result.path)} "
        f"({_size_text(manifest.size)}, {_rows_text(manifest.row_counts)},"
        f" revision {manifest.alembic_revision or '-'})"
    )
    if result.verification is not None:
        show(output, result.verification)
    for path in result.pruned:
        output.out.print(f"  deleted old backup {escape(path)}")


@view("BackupListing")
def _backup_listing_view(output: Output, listing: _listing.BackupListing) -> None:
    if not listing.backups:
        output.out.print(f"no backups in {escape(listing.backup_dir)}")
        return
    states = {"ok": "[green]ok[/]", "mismatch": "[red]MISMATCH[/]", "none": "[dim]none[/]"}
    rows: list[dict[str, str]] = []
    for item in listing.backups:
        kind = f"[yellow]{item.backup_kind}[/]" if item.backup_kind != "backup" else "backup"
        rows.append(
            {
                "file": escape(item.file.rsplit("/", 1)[-1]),
                "kind": kind,
                "age": _age_text(item.age_seconds),
                "size": _size_text(item.size),
                "format": _format_text(item.format, item.compression),
                "revision": escape(item.alembic_revision or "-"),
                "checksum": states.get(item.checksum, item.checksum),
            }
        )
    columns = _fitting_columns(rows, output.out.width)
    table = Table(title=f"backups in {escape(listing.backup_dir)}, newest first")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column in ("age", "size") else "left",
            no_wrap=column == "file",
            min_width=max(len(Text.from_markup(r["file"]).plain) for r in rows)
            if column == "file"
            else None,
        )
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    output.out.print(table)


# Dropped first when the terminal is narrow: the file name (needed for --file and verify)
# is never cut.
_LISTING_COLUMNS = ("file", "kind", "age", "size", "format", "revision", "checksum")
_LISTING_DROP_ORDER = ("format", "kind", "revision", "size")


def _fitting_columns(rows: list[dict[str, str]], width: int) -> list[str]:
    def needed(column: str) -> int:
        cells = [Text.from_markup(r[column]).plain for r in rows]
        return max(len(column), *(len(c) for c in cells)) + 3  # padding and a border

    columns = list(_LISTING_COLUMNS)
    for dropped in _LISTING_DROP_ORDER:
        if sum(needed(c) for c in columns) + 1 <= width:
            break
        columns.remove(dropped)
    return columns


@view("PrunePlan")
def _prune_view(output: Output, plan: _prune.PrunePlan) -> None:
    verb = "would delete" if plan.dry_run else "deleted"
    for item in plan.delete:
        output.out.print(f"{verb} {escape(item.file)}")
    output.out.print(
        f"{verb} {len(plan.delete)} backup(s), kept {len(plan.keep)}"
        + (" (dry run: nothing deleted)" if plan.dry_run else "")
    )


# --- restore ---------------------------------------------------------------------------
if TYPE_CHECKING:
    from lumidb import restore as _restore
    from lumidb import verify as _verify


@view("RestorePlan")
def _restore_plan_view(output: Output, plan: _restore.RestorePlan) -> None:
    if plan.production:
        output.out.print("[bold red]PRODUCTION[/] database: this replaces production data")
    kind = "" if plan.backup_kind == "backup" else f" [yellow]({plan.backup_kind})[/]"
    if plan.age_seconds is None:
        age = "age unknown"
    elif plan.age_seconds < 0:
        age = "[yellow]dated in the future[/] (check the clocks)"
    else:
        age = _age_text(plan.age_seconds) + " old"
    output.out.print(f"restore  {escape(plan.file)}{kind}")
    output.out.print(
        f"  backup: {age}, {_size_text(plan.size)}, {_format_text(plan.format, plan.compression)}"
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
    output.out.print(
        "  safety backup first: "
        + ("yes (so it can be undone)" if plan.safety_backup else "[yellow]no (no undo)[/]")
    )


@view("RestoreResult")
def _restore_result_view(output: Output, result: _restore.RestoreResult) -> None:
    counted = f", {_rows_text(result.rows)}" if result.rows else ""
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


@view("VerifyResult")
def _verify_view(output: Output, result: _verify.VerifyResult) -> None:
    name = escape(result.file.rsplit("/", 1)[-1])
    checksum = {True: "checksum ok", False: "[red]checksum MISMATCH[/]", None: "no checksum"}
    if result.ok:
        compared = (
            "match the manifest" if result.manifest else "restored; no manifest to compare with"
        )
        output.out.print(
            f"{_ok(True)} {name}: {checksum[result.checksum_ok]}, restores cleanly "
            f"({_rows_text(result.row_counts)} {compared})"
        )
        return
    output.out.print(f"{_ok(False)} {name}: {checksum[result.checksum_ok]}")
    for item in result.differences:
        output.out.print(f"    {escape(item)}")


# --- the soft-delete lifecycle -----------------------------------------------------------
if TYPE_CHECKING:
    from lumidb import purge as _purge
    from lumidb import softdelete as _sd


def _some(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(escape(i) for i in ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


@view("PurgePlan")
def _purge_plan_view(output: Output, plan: _purge.PurgePlan) -> None:
    say = output.out.print
    if plan.production:
        say("[bold red]PRODUCTION[/] database: this removes production data for good")
    age = (
        "all soft-deleted rows"
        if not plan.older_than_seconds
        else (
            f"rows soft-deleted before {plan.cutoff[:19]} UTC ({_age_text(plan.older_than_seconds)} ago)"
        )
    )
    say(f"purge  {escape(plan.database)}: {age}")
    for line in plan.not_soft_deleted:
        say(f"  not soft-deleted (nothing to do): {escape(line)}")
    say(
        f"  users:    delete {len(plan.users_delete)}, anonymise {len(plan.users_anonymise)}"
        f" (have orders), keep {len(plan.users_keep)}"
    )
    if plan.users_anonymise:
        say(f"    anonymise: {_some(plan.users_anonymise)}")
    for kept in plan.users_keep[:10]:
        say(f"    keep {escape(kept.label)}: {escape(kept.reason)}")
    say(f"  products: delete {len(plan.products_delete)}, keep {len(plan.products_keep)}")
    for kept in plan.products_keep[:10]:
        say(f"    keep {escape(kept.label)}: {escape(kept.reason)}")
    say(f"  skin analyses of those users: delete {plan.skin_analyses_delete}")
    if plan.redact_orders:
        say(f"  orders of anonymised users: clear addresses and notes of {plan.orders_redact}")
    elif plan.users_anonymise:
        say("  orders of anonymised users: kept whole (--redact-orders clears addresses, notes)")
    if plan.nothing_to_do:
        say("nothing to do")
    elif plan.dry_run:
        say("dry run: nothing was changed")
    else:
        say(
            "  safety backup first: "
            + ("yes (so it can be undone)" if plan.safety_backup else "[yellow]no (no undo)[/]")
        )


@view("PurgeResult")
def _purge_result_view(output: Output, result: _purge.PurgeResult) -> None:
    say = output.out.print
    say(
        f"[green]purged[/] {escape(result.database)}: deleted {len(result.users_deleted)} user(s) "
        f"and {len(result.products_deleted)} product(s), anonymised "
        f"{len(result.users_anonymised)} user(s), deleted {result.skin_analyses_deleted} skin "
        f"analyses"
        + (f", redacted {result.orders_redacted} order(s)" if result.orders_redacted else "")
    )
    say(
        f"  {result.batches} batch(es) in {result.duration_seconds:.1f}s, "
        f"longest {result.longest_batch_seconds:.2f}s"
    )
    for kept in result.skipped[:10]:
        say(f"  left alone {escape(kept.id)}: {escape(kept.reason)}")
    if result.safety_backup:
        say(f"  safety backup: {escape(result.safety_backup)}")
        say(f"  undo with:     {escape(result.undo_command or '')}")


@view("ReactivatePlan")
def _reactivate_plan_view(output: Output, plan: _sd.ReactivatePlan) -> None:
    say = output.out.print
    if plan.production:
        say("[bold red]PRODUCTION[/] database")
    since = f" soft-deleted since {plan.since}" if plan.since else ""
    say(f"restore-inactive  {escape(plan.database)}{since}")
    for line in plan.not_soft_deleted:
        say(f"  not soft-deleted (nothing to do): {escape(line)}")
    say(
        f"  users:    reactivate {len(plan.users)}"
        + (f": {_some(plan.user_emails)}" if plan.users else "")
    )
    say(
        f"  products: reactivate {len(plan.products)}"
        + (f": {_some(plan.product_skus)}" if plan.products else "")
    )
    for line in plan.refused:
        say(f"  [yellow]cannot restore[/] {escape(line)}")
    if plan.nothing_to_do:
        say("nothing to do")
    elif plan.dry_run:
        say("dry run: nothing was changed")


@view("ReactivateResult")
def _reactivate_result_view(output: Output, result: _sd.ReactivateResult) -> None:
    output.out.print(
        f"[green]reactivated[/] {len(result.users_restored)} user(s) and "
        f"{len(result.products_restored)} product(s) in {escape(result.database)} "
        f"({result.batches} batch(es), {result.duration_seconds:.1f}s)"
    )
    if result.skipped:
        output.out.print(f"  left alone (changed since the plan): {_some(result.skipped)}")


@view("InactiveListing")
def _inactive_view(output: Output, listing: _sd.InactiveListing) -> None:
    if not (listing.users or listing.products):
        output.out.print(f"no soft-deleted users or products in {escape(listing.database)}")
        return
    table = Table(title=f"soft-deleted in {escape(listing.database)}")
    for column in ("kind", "email / SKU", "soft-deleted", "age", "purge would"):
        table.add_column(column)
    for kind, records in (("user", listing.users), ("product", listing.products)):
        for rec in records:
            action = rec.purge_action + (f" ({rec.reason})" if rec.reason else "")
            table.add_row(
                kind,
                escape(rec.label),
                rec.soft_deleted_at[:19],
                _age_text(rec.age_seconds),
                escape(action),
            )
    output.out.print(table)


# --- seed, reset, setup ------------------------------------------------------------------
if TYPE_CHECKING:
    from lumidb import reset as _reset
    from lumidb import seed as _seed
    from lumidb import setup as _setup


def _seed_lines(output: Output, result: _seed.SeedResult) -> None:
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
    _admin_lines(output, result)


def _admin_lines(output: Output, result: _seed.SeedResult) -> None:
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


@view("SeedResult")
def _seed_view(output: Output, result: _seed.SeedResult) -> None:
    _seed_lines(output, result)


@view("ResetPlan")
def _reset_plan_view(output: Output, plan: _reset.ResetPlan) -> None:
    output.out.print(
        f"[bold]reset[/] {escape(plan.target)} ({escape(plan.environment)}): schema "
        f"{escape(plan.schema)!r} is dropped and rebuilt from the migrations"
        + (", then seeded" if plan.seed else "")
    )
    output.out.print(f"  drops: {len(plan.drops)} object(s), {_rows_text(plan.row_counts)}")
    for item in plan.drops:
        output.out.print(f"    {escape(item)}")
    for session in plan.sessions:
        output.out.print(f"  [yellow]connected:[/] {escape(session)}")
    output.out.print(
        "  a safety backup is taken first"
        if plan.safety_backup
        else "  [yellow]no safety backup[/] (--no-safety-backup): no undo"
    )


@view("ResetResult")
def _reset_view(output: Output, result: _reset.ResetResult) -> None:
    output.out.print(
        f"[green]reset[/] {escape(result.database)}: dropped {result.dropped} object(s), "
        f"now at revision {escape(result.revision)} in {result.duration_seconds:.1f}s"
    )
    if result.undo_command:
        output.out.print(f"  undo with: {escape(result.undo_command)}")
    if result.seeded is not None:
        _seed_lines(output, result.seeded)


@view("SetupResult")
def _setup_view(output: Output, result: _setup.SetupResult) -> None:
    for notice in result.notices:
        output.err.print(escape(notice))
    applied = ", ".join(result.applied) if result.applied else "none pending"
    output.out.print(
        f"[green]ready[/]: {escape(result.database)} ({escape(result.environment)}) at revision "
        f"{escape(', '.join(result.revision) or 'base')}; applied: {escape(applied)}"
    )
    if result.seeded is not None:
        _seed_lines(output, result.seeded)
    else:
        output.out.print(f"not seeded: {escape(result.seed_skipped or '')}")
    if result.embedded:
        output.out.print("the local server's URL for the LumiAI .env: [bold]lumidb server url[/]")


# --- seed --scale ------------------------------------------------------------------------
if TYPE_CHECKING:
    from lumidb import scale as _scale


@view("ScaleResult")
def _scale_view(output: Output, result: _scale.ScaleResult) -> None:
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


if TYPE_CHECKING:
    from lumidb.storage import store_check as _store_check


@view("StoreCheck")
def _store_check_view(output: Output, result: _store_check.StoreCheck) -> None:
    output.out.print(f"checking backup location {escape(result.location)} ({escape(result.where)})")
    for step in result.steps:
        detail = f": {escape(step.detail)}" if step.detail else ""
        output.out.print(f"{_ok(step.ok)} {escape(step.what)}{detail}")
    if result.ok:
        output.out.print("[green]the backup location works[/]")
    else:
        output.out.print("[red]the backup location failed a check[/]")
