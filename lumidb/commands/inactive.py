"""``lumidb inactive``: what waits in the soft-delete bin, and what a purge would do to it."""

from __future__ import annotations

import typer

from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime


def inactive(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """List soft-deleted users and products, their age, and what `purge` would do to each.

    Read-only: takes no lock and never starts a local server.

    Example: lumidb inactive --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.softdelete import list_inactive
    from lumidb.timespec import utc_now

    now = utc_now()
    return list_inactive(rt.target(start_embedded=False), now=now)
