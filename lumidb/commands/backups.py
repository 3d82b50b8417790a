"""``lumidb backups``: list, verify and prune backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime

app = typer.Typer(help="List, verify and prune backups.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """List backups, newest first, with their checksum state (safety backups marked).

    Example: lumidb backups list --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.listing import list_backup_summaries
    from lumidb.timespec import utc_now

    return list_backup_summaries(rt.settings.backup_dir, now=utc_now())


@app.command()
def verify(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="The backup to verify (default: the newest).")
    ] = None,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Check a backup's checksum and restore it into a scratch database; exit 1 on a mismatch.

    Example: lumidb backups verify
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.verify import verify_backup_file

    settings = rt.settings
    return verify_backup_file(
        settings.backup_dir, file, target=rt.target(), pg_bin_dir=settings.pg_bin_dir
    )


@app.command()
def prune(
    ctx: typer.Context,
    keep_last: Annotated[
        int, typer.Option("--keep-last", min=1, help="Keep the newest N backups.")
    ],
    keep_daily: Annotated[
        int, typer.Option("--keep-daily", min=0, help="Keep the newest of each of D days.")
    ] = 0,
    keep_weekly: Annotated[
        int, typer.Option("--keep-weekly", min=0, help="Keep the newest of each of W weeks.")
    ] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Delete old backups, grandfather-father-son; the newest good backup always stays.

    Safety backups follow their own rule: per database the newest LUMIDB_SAFETY_KEEP_LAST
    (5) and any newer than LUMIDB_SAFETY_KEEP_DAYS (7), at most LUMIDB_SAFETY_MAX (20).

    Example: lumidb backups prune --keep-last 7 --keep-daily 14 --keep-weekly 8
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.prune import prune_backups
    from lumidb.timespec import utc_now

    return prune_backups(
        rt.settings.backup_dir,
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        safety_retention=rt.settings.safety_retention,
        now=utc_now(),
        dry_run=dry_run,
    )
