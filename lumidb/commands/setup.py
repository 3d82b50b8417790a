"""``lumidb setup``: day one in one command (local server, revisions, first seed)."""

from __future__ import annotations

import typer

from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime


def setup(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Start the local server (no DATABASE_URL), apply revisions, seed a new database.

    Seeds only when this run created the tables, never on production. Idempotent: safe in
    a container entrypoint or a CI step.

    Example: uv run lumidb setup
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)

    from lumidb import setup as core
    from lumidb.seed import seed_options
    from lumidb.timespec import utc_now

    settings = rt.settings
    target = rt.target()
    return core.setup(
        target,
        embedded=settings.url_setting is None,
        environment=settings.environment,
        record_as=settings.environment_to_record,
        lock_timeout=settings.lock_timeout,
        seed_options=seed_options(settings),
        backup_dir=settings.backup_dir,
        now=utc_now(),
    )
