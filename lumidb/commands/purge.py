"""``lumidb purge``: remove soft-deleted users and products for good, after showing the plan."""

from __future__ import annotations

from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime
from lumidb.commands.softdelete_options import (
    DryRunOption,
    EmailOption,
    IdOption,
    ProductsOption,
    SkuOption,
    UsersOption,
    progress_for,
    selection_of,
)


def purge(
    ctx: typer.Context,
    users: UsersOption = False,
    products: ProductsOption = False,
    id: IdOption = None,
    email: EmailOption = None,
    sku: SkuOption = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Only rows soft-deleted at least this long ago (30d, 12h, 2w; "
            "default LUMIDB_PURGE_OLDER_THAN or 0: all).",
        ),
    ] = None,
    redact_orders: Annotated[
        bool,
        typer.Option(
            "--redact-orders",
            help="Also clear the addresses and notes of anonymised users' orders.",
        ),
    ] = False,
    no_safety_backup: Annotated[
        bool,
        typer.Option("--no-safety-backup", help="Do not back up first (no undo)."),
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Permanently remove soft-deleted users and products, keeping order history whole.

    Users with orders are anonymised instead, products in orders are kept. Shows the
    plan and asks first (--yes skips; without a terminal it refuses); a safety backup
    is taken first and the command that undoes the purge is shown.

    Example: lumidb purge --older-than 30d --yes
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import purge as core
    from lumidb.timespec import parse_duration, utc_now

    settings = rt.settings
    now = utc_now()
    age = parse_duration(
        older_than if older_than is not None else settings.purge_older_than,
        option="--older-than" if older_than is not None else "LUMIDB_PURGE_OLDER_THAN",
    )
    options = core.PurgeOptions(
        older_than=age,
        redact_orders=redact_orders,
        safety_backup=not no_safety_backup,
        batch_size=settings.purge_batch,
        backup_dir=settings.backup_dir,
        pg_bin_dir=settings.pg_bin_dir,
        environment=settings.environment,
        lock_timeout=settings.lock_timeout,
        safety_retention=settings.safety_retention,
    )
    target = rt.target()
    plan = core.plan_purge(target, selection_of(users, products, id, email, sku), options, now=now)
    if dry_run or plan.nothing_to_do:
        from dataclasses import replace

        return replace(plan, dry_run=dry_run)
    render.show(rt.output, plan, to_stderr=rt.output.json)
    confirm(
        rt.output,
        question=f"Purge these records from {target.dbname}?",
        yes=yes,
        production=plan.production,
        dbname=target.dbname,
    )
    return core.purge(
        target, plan, options, now=now, progress=progress_for(rt.output), notify=rt.output.info
    )
