"""``lumidb psql``: open psql on the target database."""

from __future__ import annotations

from typing import Annotated

import typer

from lumidb.commands.runtime import DebugOption, runtime


def psql(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PSQL_ARGS",
            help="Arguments for psql, after `--` (e.g. -- -c 'SELECT 1').",
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Open psql on the target database (DATABASE_URL, else the local server).

    The psql that fits the server is chosen; the password goes through the environment.

    Example: lumidb psql -- -c 'SELECT count(*) FROM users'
    """
    rt = runtime(ctx, debug=debug)
    from lumidb.psql_session import open_psql

    code = open_psql(rt.target(), pg_bin_dir=rt.settings.pg_bin_dir, extra_args=list(args or []))
    raise typer.Exit(code)
