"""``lumidb setup``: day one in one command (local server, revisions, first seed)."""

from __future__ import annotations

import typer

from lumidb import render
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime


def setup(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Start the local server (no DATABASE_URL), apply revisions, seed a new database.

    Seeds only when this run created the tables, never on production. Idempotent: safe in
    a container entrypoint or a CI step.

    Example: uv run lumidb setup
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    import dataclasses

    from lumidb import setup as core
    from lumidb.seed import SeedOptions
    from lumidb.timespec import utc_now

    settings = rt.settings
    password = settings.admin_password
    target = rt.target()
    result = core.setup(
        target,
        embedded=settings.url_setting is None,
        environment=settings.environment,
        record_as=settings.environment_to_record,
        lock_timeout=settings.lock_timeout,
        seed_options=SeedOptions(
            admin_email=settings.admin_email,
            admin_password=password.get_secret_value() if password else None,
            environment=settings.environment,
        ),
        backup_dir=settings.backup_dir,
        now=utc_now(),
    )
    seeded = result.seeded
    if (
        seeded is not None
        and seeded.admin_password is not None
        and not (rt.output.json or rt.output.err.is_terminal)
    ):
        result = dataclasses.replace(
            result, seeded=dataclasses.replace(seeded, admin_password=None)
        )
    render.show(rt.output, result)
