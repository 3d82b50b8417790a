"""``lumidb reset``: drop the application's schema, migrate and seed again (development only)."""

from __future__ import annotations

from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime


def reset(
    ctx: typer.Context,
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
            "--allow-remote",
            help="Allow a server that is not on this machine (a CI service host, say).",
        ),
    ] = False,
    terminate_connections: Annotated[
        bool,
        typer.Option(
            "--terminate-connections",
            help="End other sessions on the database first (lumidb's own are kept).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing, ask nothing.")
    ] = False,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Drop every table and type of the application, run every migration, then seed.

    Development and test databases only, in one transaction, after a safety backup.
    Refuses on production with no override, and on a remote server without --allow-remote.

    Example: lumidb reset --yes
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import reset as core
    from lumidb.seed import seed_options
    from lumidb.timespec import utc_now

    settings = rt.settings
    options = core.ResetOptions(
        backup_dir=settings.backup_dir,
        seed=not no_seed,
        safety_backup=not no_safety_backup,
        allow_remote=allow_remote,
        terminate_connections=terminate_connections,
        environment=settings.environment,
        lock_timeout=settings.lock_timeout,
        statement_lock_timeout=settings.restore_lock_timeout,
        pg_bin_dir=settings.pg_bin_dir,
        seed_options=seed_options(settings),
        safety_retention=settings.safety_retention,
    )
    target = rt.target()
    plan = core.plan_reset(target, options)
    if dry_run:
        return plan
    render.show(rt.output, plan, to_stderr=True)
    confirm(
        rt.output,
        question=f"Drop everything in {target.dbname} and rebuild it?",
        yes=yes,
        production=False,
        dbname=target.dbname,
    )
    return core.reset(target, plan, options, now=utc_now(), notify=rt.output.info)
