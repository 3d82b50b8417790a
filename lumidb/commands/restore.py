"""``lumidb restore-latest``: restore the newest good backup, after showing the plan."""

from __future__ import annotations

from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.backups import FromOption
from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime


def restore_latest(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="Restore this backup, a file or s3:// URL (also a safety backup, or an old "
            "script's .sql).",
        ),
    ] = None,
    location: FromOption = None,
    from_database: Annotated[
        str | None,
        typer.Option(
            "--from-database",
            metavar="NAME",
            help="Take the newest backup of database NAME instead of the target's own "
            "(the plan says so).",
        ),
    ] = None,
    yes: YesOption = False,
    no_safety_backup: Annotated[
        bool,
        typer.Option(
            "--no-safety-backup", help="Do not back up the current state first (no undo)."
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help="Restore a custom-format backup in parallel (not one transaction; "
            "the safety backup is then mandatory).",
        ),
    ] = None,
    terminate_connections: Annotated[
        bool,
        typer.Option(
            "--terminate-connections",
            help="End other sessions on the database first (lumidb's own are kept).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show the plan only: no prompt, no safety backup, no change."
        ),
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Replace the data with the newest complete backup, in one transaction (not with --jobs).

    With --jobs the load runs in parallel, which is not one transaction.

    Only backups of the target database (by their manifest) are candidates;
    --from-database NAME takes another database's, --file a given file.

    Shows the plan and asks first (--yes skips; without a terminal it refuses). A
    safety backup of the current state is taken first, and the command to undo is shown.
    With --dry-run, the plan alone (exit 0), e.g. for review in CI.

    Example: lumidb restore-latest --yes
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import restore
    from lumidb.commands.backups import backup_file, chosen_location
    from lumidb.timespec import utc_now

    settings = rt.settings
    options = restore.RestoreOptions(
        backup_dir=chosen_location(location, settings.backup_dir),
        file=backup_file(file),
        from_database=from_database,
        safety_backup=not no_safety_backup,
        jobs=jobs,
        terminate_connections=terminate_connections,
        pg_bin_dir=settings.pg_bin_dir,
        environment=settings.environment,
        lock_timeout=settings.lock_timeout,
        restore_lock_timeout=settings.restore_lock_timeout,
        safety_retention=settings.safety_retention,
    )
    restore.check_backup_exists(options)  # before the local server is started for nothing
    target = rt.target()
    plan = restore.plan_restore(target, options, now=utc_now())
    for warning in plan.warnings:
        rt.output.warn(warning)
    if dry_run:
        return plan
    render.show(rt.output, plan, to_stderr=rt.output.json)
    confirm(
        rt.output,
        question=f"Replace the data of {target.dbname} with this backup?",
        yes=yes,
        production=plan.production,
        dbname=target.dbname,
    )
    return restore.restore(target, plan, options, now=utc_now(), notify=rt.output.info)
