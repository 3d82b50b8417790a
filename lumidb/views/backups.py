"""What ``lumidb backup`` and ``lumidb backups`` show: a backup written, listed, verified, pruned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text

from lumidb.backup_store import shown_name
from lumidb.console import Output
from lumidb.views.wording import View, age_text, format_text, ok_mark, rows_text, size_text

if TYPE_CHECKING:
    from lumidb.backup import BackupResult
    from lumidb.listing import BackupListing
    from lumidb.prune import PrunePlan
    from lumidb.storage.store_check import StoreCheckReport
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
    """One aligned line per backup (no box: 500 backups print in a blink), newest first."""
    if not listing.backups:
        output.out.print(f"no backups in {escape(listing.backup_dir)}")
        return
    states = {"ok": "green", "mismatch": "red", "none": "dim"}
    shown = {"mismatch": "MISMATCH"}
    rows: list[dict[str, tuple[str, str]]] = []  # column -> (plain text, style)
    for item in listing.backups:
        rows.append(
            {
                "file": (shown_name(item.file.rsplit("/", 1)[-1]), ""),
                "kind": (item.backup_kind, "" if item.backup_kind == "backup" else "yellow"),
                "age": (age_text(item.age_seconds), ""),
                "size": (size_text(item.size), ""),
                "format": (format_text(item.format, item.compression), ""),
                "revision": (shown_name(item.alembic_revision or "-"), ""),
                "checksum": (
                    shown.get(item.checksum, item.checksum),
                    states.get(item.checksum, ""),
                ),
            }
        )
    widths = {c: max(len(c), *(cell_len(r[c][0]) for r in rows)) for c in _LISTING_COLUMNS}
    columns = _fitting_columns(widths, output.out.width)
    text = Text()
    text.append(f"backups in {shown_name(listing.backup_dir)}, newest first\n", style="italic")
    for row in [{c: (c, "bold") for c in columns}, *rows]:
        for index, column in enumerate(columns):
            cell, style = row[column]
            pad = " " * (widths[column] - cell_len(cell))
            right = column in ("age", "size")
            text.append(("  " if index else "") + (pad if right else ""))
            text.append(cell, style=style)
            if not right and index < len(columns) - 1:
                text.append(pad)
        text.append("\n")
    text.rstrip()
    output.out.print(text, soft_wrap=True, highlight=False)


# Dropped first when the terminal is narrow: the file name (needed for --file and verify)
# is never cut.
_LISTING_COLUMNS = ("file", "kind", "age", "size", "format", "revision", "checksum")
_LISTING_DROP_ORDER = ("format", "kind", "revision", "size")


def _fitting_columns(widths: dict[str, int], width: int) -> list[str]:
    columns = list(_LISTING_COLUMNS)
    for dropped in _LISTING_DROP_ORDER:
        if sum(widths[c] + 2 for c in columns) - 2 <= width:
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


def store_check_report(output: Output, result: StoreCheckReport) -> None:
    output.out.print(f"checking backup location {escape(result.location)} ({escape(result.where)})")
    for step in result.steps:
        detail = f": {escape(step.detail)}" if step.detail else ""
        output.out.print(f"{ok_mark(step.ok)} {escape(step.what)}{detail}")
    if result.ok:
        output.out.print("[green]the backup location works[/]")


VIEWS: dict[str, View] = {
    "StoreCheckReport": store_check_report,
    "BackupResult": backup_result,
    "VerifyResult": verify_result,
    "BackupListing": backup_listing,
    "PrunePlan": prune_plan,
}
