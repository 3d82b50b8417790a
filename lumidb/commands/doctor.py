"""``lumidb doctor``: the checks to run before trusting lumidb with a database."""

from __future__ import annotations

import typer

from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime


def doctor(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Check configuration, connection, server, client programs, migrations and backups.

    The backup location is only read (`lumidb backups check-store` writes a probe).
    Exits 1 when any check fails; each failing check says how to fix it.

    Example: lumidb doctor --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.doctor import run_doctor
    from lumidb.timespec import utc_now

    return run_doctor(rt.settings, now=utc_now())
