"""``lumidb doctor``."""

from __future__ import annotations

import typer

from lumidb import exit_codes, render
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime


def doctor(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Check configuration, connection, server, client programs, migrations and the backup location
    (a bucket is only read: `lumidb backups check-store` writes a probe).

    Exits 1 when any check fails; each failing check says how to fix it.

    Example: lumidb doctor --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.doctor import run_doctor
    from lumidb.timespec import utc_now

    report = run_doctor(rt.settings, now=utc_now())
    render.show(rt.output, report)
    if not report.ok:
        raise typer.Exit(exit_codes.FAILED)
