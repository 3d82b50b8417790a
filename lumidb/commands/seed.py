"""``lumidb seed``: the admin and the sample catalogue (idempotent), or synthetic volume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lumidb.commands.confirmation import confirm
from lumidb.commands.runtime import (
    DebugOption,
    JsonOption,
    QuietOption,
    Runtime,
    YesOption,
    runtime,
)

if TYPE_CHECKING:
    from lumidb.scale import ScaleResult


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
    scale: Annotated[
        int | None,
        typer.Option(
            "--scale",
            help="Append N synthetic users with orders, items, skin analyses and products "
            "(1 to 100,000,000; development and test databases only, no override).",
        ),
    ] = None,
    random_seed: Annotated[
        int, typer.Option("--random-seed", help="Seed of the synthetic data (with --scale).")
    ] = 0,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Add the admin (LUMIDB_ADMIN_EMAIL) and the sample catalogue where they are missing.

    Asks nothing and changes no row the application changed (unless --refresh). Without
    LUMIDB_ADMIN_PASSWORD the admin gets a random password, shown once on a terminal or
    in --json.

    With --scale N it appends N synthetic users instead (load tests, trying purges).

    Example: LUMIDB_ADMIN_PASSWORD=… lumidb seed --refresh
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    if scale is not None:
        return _seed_scale(rt, scale, random_seed)
    from lumidb import seed as core
    from lumidb.timespec import utc_now

    settings = rt.settings
    options = core.seed_options(settings, refresh=refresh, allow_production=allow_production)
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
    return core.seed(target, options, now=utc_now())


def _seed_scale(rt: Runtime, count: int, random_seed: int) -> ScaleResult:
    from lumidb import scale
    from lumidb.timespec import utc_now

    scale.check_scale(count)
    settings = rt.settings
    target = rt.target()
    kwargs = {
        "count": count,
        "random_seed": random_seed,
        "now": utc_now(),
        "environment": settings.environment,
        "lock_timeout": settings.lock_timeout,
    }
    if rt.output.quiet or rt.output.json or not rt.output.err.is_terminal:
        result = scale.seed_scale(target, **kwargs)  # type: ignore[arg-type]
    else:
        from rich.progress import Progress

        with Progress(console=rt.output.err, transient=True) as bar:
            task = bar.add_task("synthetic users", total=count)
            result = scale.seed_scale(
                target,
                progress=lambda done, _total: bar.update(task, completed=done),
                **kwargs,  # type: ignore[arg-type]
            )
    return result
