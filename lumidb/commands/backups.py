"""``lumidb backups``: list, verify and prune backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime

app = typer.Typer(
    help="List, verify and prune backups; check a backup location.", no_args_is_help=True
)

FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="LOCATION",
        help="The backup location: a folder or s3://BUCKET/PREFIX [LUMIDB_BACKUP_DIR].",
    ),
]


def chosen_location(text: str | None, configured: Path | str) -> Path | str:
    """The location an option names (checked: a bad s3:// URL is exit 2), else the setting."""
    from lumidb.storage.location import absolute_location, parse_location, preload_for

    location = absolute_location(parse_location(text)) if text else configured
    preload_for(location)
    return location


def backup_file(text: str | None) -> Path | str | None:
    """A backup named on the command line: an object's s3:// URL stays text, else a path."""
    from lumidb.storage.location import looks_like_s3

    if text is None:
        return None
    return text if looks_like_s3(text) else Path(text)


@app.command("list")
def list_(
    ctx: typer.Context,
    location: FromOption = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Read every backup for its SHA-256 (default: sizes only)."),
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """List backups, newest first, with their checksum state (safety backups marked).

    Without --check only sizes are compared (unchecked); backups verify checks one fully.

    Example: lumidb backups list --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.listing import list_backup_summaries
    from lumidb.timespec import utc_now

    listing = list_backup_summaries(
        chosen_location(location, rt.settings.backup_dir), now=utc_now(), check=check
    )
    for warning in listing.warnings:
        rt.output.warn(warning)
    return listing


@app.command()
def verify(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(help="The backup to verify, a file or s3:// URL (default: the newest)."),
    ] = None,
    location: FromOption = None,
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
        chosen_location(location, settings.backup_dir),
        backup_file(file),
        target=rt.target(),
        pg_bin_dir=settings.pg_bin_dir,
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
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait while a backup runs, instead of exit 3.")
    ] = False,
    location: FromOption = None,
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
        chosen_location(location, rt.settings.backup_dir),
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        safety_retention=rt.settings.safety_retention,
        now=utc_now(),
        dry_run=dry_run,
        wait=wait,
    )


@app.command("check-store")
def check_store(
    ctx: typer.Context,
    location: FromOption = None,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Write, read back and delete a probe in the backup location; exit 1 if a step fails.

    For a bucket it also checks that the server refuses an overwrite with If-None-Match
    (the backup lock needs it) and that a multipart upload starts and aborts. `lumidb
    doctor` only looks; run this once after setting a location up.

    Example: lumidb backups check-store --from s3://lumiai-backups/production
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.storage.store_check import check_store as probe

    return probe(chosen_location(location, rt.settings.backup_dir))
