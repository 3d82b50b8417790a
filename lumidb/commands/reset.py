"""``lumidb reset``: rebuild a development database from scratch (never production)."""

from __future__ import annotations

from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime


def reset(
    ctx: typer.Context,
    yes: YesOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing, back up nothing.")
    ] = False,
    no_seed: Annotated[bool, typer.Option("--no-seed", help="Do not seed afterwards.")] = False,
    no_safety_backup: Annotated[
        bool,
        typer.Option(
            "--no-safety-backup", help="Do not back up the current state first (no undo)."
        ),
    ] = False,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a host that is not local (e.g. a CI service `postgres`)."
        ),
    ] = False,
    terminate_connections: Annotated[
        bool,
        typer.Option(
            "--terminate-connections",
            help="End other sessions on the database first (lumidb's own are kept).",
        ),
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Drop the application's tables and types, run every migration, then seed (dev/test only).

    Shows the plan and asks first (--yes skips; without a terminal it refuses). Takes a
    safety backup first and prints the command that undoes the reset. One transaction:
    a failure leaves the database as it was.

    Example: lumidb reset --yes
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import reset as resetting
    from lumidb.timespec import utc_now

    settings = rt.settings
    password = settings.admin_password
    options = resetting.ResetOptions(
        backup_dir=settings.backup_dir,
        environment=settings.environment,
        allow_remote=allow_remote,
        safety_backup=not no_safety_backup,
        seed=not no_seed,
        terminate_connections=terminate_connections,
        pg_bin_dir=settings.pg_bin_dir,
        lock_timeout=settings.lock_timeout,
        statement_lock_timeout=settings.restore_lock_timeout,
        admin_email=settings.admin_email,
        admin_password=password.get_secret_value() if password is not None else None,
        safety_retention=settings.safety_retention,
    )
    target = rt.target()
    plan = resetting.plan_reset(target, options)
    if dry_run:
        render.show(rt.output, plan)
        return
    render.show(rt.output, plan, to_stderr=rt.output.json)
    confirm(
        rt.output,
        question=f"Drop everything of {target.dbname} and rebuild it?",
        yes=yes,
        production=False,
        dbname=target.dbname,
    )
    result = resetting.reset(target, plan, options, now=utc_now(), notify=rt.output.info)
    render.show(rt.output, result)
