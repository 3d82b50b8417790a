"""``lumidb seed``: the admin and the sample catalogue (or synthetic data with ``--scale``)."""

from __future__ import annotations

import sys
from dataclasses import replace
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
            help="Reset the sample products to the shipped values, and the admin's password "
            "to LUMIDB_ADMIN_PASSWORD when it is set.",
        ),
    ] = False,
    allow_production: Annotated[
        bool,
        typer.Option(
            "--allow-production",
            help="Seed a production database on purpose (asks for the typed name, or --yes).",
        ),
    ] = False,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Insert the admin and the sample catalogue where missing; a second run changes nothing.

    Example: LUMIDB_ADMIN_PASSWORD=... lumidb seed
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import seed as seeding
    from lumidb.timespec import utc_now

    settings = rt.settings
    target = rt.target()
    check = seeding.check_seed(
        target, environment=settings.environment, allow_production=allow_production
    )
    if check.production:
        confirm(
            rt.output,
            question="Seed this PRODUCTION database?",
            yes=yes,
            production=True,
            dbname=target.dbname,
        )
    password = settings.admin_password
    result = seeding.seed(
        target,
        now=utc_now(),
        admin_email=settings.admin_email,
        admin_password=password.get_secret_value() if password is not None else None,
        refresh=refresh,
        lock_timeout=settings.lock_timeout,
    )
    if result.generated_password is not None and not rt.output.json:
        if sys.stderr.isatty():
            rt.output.err.print(
                f"generated password for {result.admin_email} (shown once, not stored): "
                f"[bold]{result.generated_password}[/]"
            )
        result = replace(result, generated_password=None)
    render.show(rt.output, result)
