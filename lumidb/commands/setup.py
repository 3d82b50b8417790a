"""``lumidb setup``: the day-one command (local server, revisions, first seed)."""

from __future__ import annotations

import sys
from dataclasses import replace

import typer

from lumidb import render
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime


def setup(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Prepare the database: start the local server if no DATABASE_URL, apply pending
    revisions, seed only when the tables were just created (never on production).

    Idempotent: safe in a container entrypoint or a CI step.

    Example: uv run lumidb setup
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import setup as preparing
    from lumidb.target import resolve_target
    from lumidb.timespec import utc_now

    settings = rt.settings
    resolved = resolve_target(settings)
    for notice in resolved.notices:
        rt.output.info(notice)
    for warning in resolved.warnings:
        rt.output.warn(warning)
    password = settings.admin_password
    result = preparing.setup(
        resolved.target,
        now=utc_now(),
        shell_environment=settings.environment,
        environment_to_record=settings.environment_to_record,
        admin_email=settings.admin_email,
        admin_password=password.get_secret_value() if password is not None else None,
        lock_timeout=settings.lock_timeout,
        embedded=resolved.embedded,
    )
    seeded = result.seed
    if seeded is not None and seeded.generated_password is not None and not rt.output.json:
        if sys.stderr.isatty():
            rt.output.err.print(
                f"generated password for {seeded.admin_email} (shown once, not stored): "
                f"[bold]{seeded.generated_password}[/]"
            )
        result = replace(result, seed=replace(seeded, generated_password=None))
    render.show(rt.output, result)
