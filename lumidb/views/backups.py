"""What ``lumidb backup`` and ``lumidb backups`` show: a backup written, listed, verified, pruned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lumidb.console import Output
from lumidb.views.wording import View, age_text, format_text, ok_mark, rows_text, size_text

if TYPE_CHECKING:
    from lumidb.backup import BackupResult
    from lumidb.listing import BackupListing
    from lumidb.prune import PrunePlan
    from lumidb.verify import VerifyResult


def backup_result(output: Output, result: BackupResult) -> None:
    manifest = result.manifest
    output.out.print(
        f"[green]backup written[/]: {escape(result.path)} "
        f"({size_text(manifest.size)}, {rows_text(manifest.row_counts)},"
        f" revision {manifest.alembic_revision or '-'})"
    )
    if result.verification is not None:
        verify_result(output, result.verification)
    for path in result.pruned:
        output.out.print(f"  deleted old backup {escape(path)}")


def verify_result(output: Output, result: VerifyResult) -> None:
    name = escape(result.file.rsplit("/", 1)[-1])
    checksum = {True: "checksum ok", False: "[red]checksum MISMATCH[/]", None: "no checksum"}
    if result.ok:
        compared = (
            "match the manifest" if result.manifest else "restored; no manifest to compare with"
        )
        output.out.print(
            f"{ok_mark(True)} {name}: {checksum[result.checksum_ok]}, restores cleanly "
            f"({rows_text(result.row_counts)} {compared})"
        )
        return
    output.out.print(f"{ok_mark(False)} {name}: {checksum[result.checksum_ok]}")
    for item in result.differences:
        output.out.print(f"    {escape(item)}")


def backup_listing(output: Output, listing: BackupListing) -> None:
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
                "age": age_text(item.age_seconds),
                "size": size_text(item.size),
                "format": format_text(item.format, item.compression),
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


def prune_plan(output: Output, plan: PrunePlan) -> None:
    verb = "would delete" if plan.dry_run else "deleted"
    for item in plan.delete:
        output.out.print(f"{verb} {escape(item.file)}")
    output.out.print(
        f"{verb} {len(plan.delete)} backup(s), kept {len(plan.keep)}"
        + (" (dry run: nothing deleted)" if plan.dry_run else "")
    )


VIEWS: dict[str, View] = {
    "BackupResult": backup_result,
    "VerifyResult": verify_result,
    "BackupListing": backup_listing,
    "PrunePlan": prune_plan,
}
