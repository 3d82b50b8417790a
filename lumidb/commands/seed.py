"""``lumidb seed``: the admin and the sample catalogue (idempotent), or synthetic volume."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime


def seed(
    ctx: typer.Context,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Put the sample rows back to the shipped values, and the admin's password "
            "to LUMIDB_ADMIN_PASSWORD when it is set.",
        ),
    ] = False,
    allow_production: Annotated[
        bool,
        typer.Option(
            "--allow-production",
            help="Seed a production database too (asks for its name, or takes --yes).",
        ),
    ] = False,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Add the admin (LUMIDB_ADMIN_EMAIL) and the sample catalogue where they are missing.

    Asks nothing and changes no row the application changed (unless --refresh). Without
    LUMIDB_ADMIN_PASSWORD the admin gets a random password, shown once on a terminal or
    in --json.

    Example: LUMIDB_ADMIN_PASSWORD=… lumidb seed --refresh
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import seed as core
    from lumidb.timespec import utc_now

    settings = rt.settings
    password = settings.admin_password
    options = core.SeedOptions(
        admin_email=settings.admin_email,
        admin_password=password.get_secret_value() if password else None,
        refresh=refresh,
        allow_production=allow_production,
        environment=settings.environment,
        lock_timeout=settings.lock_timeout,
    )
    target = rt.target()
    check = core.check_seed(target, options)
    if check.production:
        confirm(
            rt.output,
            question="Seed the production database?",
            yes=yes,
            production=True,
            dbname=target.dbname,
        )
    result = core.seed(target, options, now=utc_now())
    if result.admin_password is not None and not (rt.output.json or rt.output.err.is_terminal):
        result = dataclasses.replace(result, admin_password=None)
    render.show(rt.output, result)
