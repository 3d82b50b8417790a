"""``lumidb restore-inactive``: bring soft-deleted users and products back, after the plan."""

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


def restore_inactive(
    ctx: typer.Context,
    users: UsersOption = False,
    products: ProductsOption = False,
    id: IdOption = None,
    email: EmailOption = None,
    sku: SkuOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only rows soft-deleted since this UTC date (2026-11-01) or this long ago (7d).",
        ),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Reactivate soft-deleted users and products (all, or the ones the filters name).

    Anonymised users cannot come back; the output says which. Shows the plan and asks
    first (--yes skips; without a terminal it refuses).

    Example: lumidb restore-inactive --email ana@example.com --yes
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import softdelete
    from lumidb.timespec import parse_since, utc_now

    settings = rt.settings
    now = utc_now()
    since_at = parse_since(since, now=now, option="--since") if since is not None else None
    target = rt.target()
    plan = softdelete.plan_reactivate(
        target,
        selection_of(users, products, id, email, sku),
        since=since_at,
        environment=settings.environment,
    )
    if dry_run or plan.nothing_to_do:
        from dataclasses import replace

        return replace(plan, dry_run=dry_run)
    render.show(rt.output, plan, to_stderr=rt.output.json)
    confirm(
        rt.output,
        question=f"Reactivate these records in {target.dbname}?",
        yes=yes,
        production=plan.production,
        dbname=target.dbname,
    )
    return softdelete.reactivate(
        target,
        plan,
        now=now,
        batch_size=settings.purge_batch,
        lock_timeout=settings.lock_timeout,
        progress=progress_for(rt.output),
    )
