"""``lumidb seed``: the admin and the sample catalogue (or synthetic data with ``--scale``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import (
    DebugOption,
    JsonOption,
    QuietOption,
    Runtime,
    YesOption,
    runtime,
)


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
    scale: Annotated[
        int | None,
        typer.Option(
            "--scale",
            help="Append N synthetic users with orders, items, skin analyses and products "
            "(1 to 100,000,000; development and test databases only).",
        ),
    ] = None,
    random_seed: Annotated[
        int, typer.Option("--random-seed", help="Seed of the synthetic data (with --scale).")
    ] = 0,
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
    if scale is not None:
        _seed_scale(rt, scale, random_seed)
        return
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


def _seed_scale(rt: Runtime, count: int, random_seed: int) -> None:
    from lumidb import scale
    from lumidb.timespec import utc_now

    scale.check_scale(count)
    settings = rt.settings
    target = rt.target()
    show_progress = sys.stderr.isatty() and not (rt.output.quiet or rt.output.json)
    if not show_progress:
        result = scale.seed_scale(
            target,
            count=count,
            random_seed=random_seed,
            now=utc_now(),
            environment=settings.environment,
            lock_timeout=settings.lock_timeout,
        )
    else:
        from rich.progress import Progress

        with Progress(console=rt.output.err, transient=True) as bar:
            task = bar.add_task("synthetic users", total=count)
            result = scale.seed_scale(
                target,
                count=count,
                random_seed=random_seed,
                now=utc_now(),
                environment=settings.environment,
                lock_timeout=settings.lock_timeout,
                progress=lambda done, _total: bar.update(task, completed=done),
            )
    render.show(rt.output, result)
