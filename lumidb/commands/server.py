"""``lumidb server``: the embedded local PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer

from lumidb.commands.results import ServerStopped
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime

app = typer.Typer(
    help="Manage the local PostgreSQL that lumidb runs when no DATABASE_URL is set.",
    no_args_is_help=True,
)


@app.command()
def start(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=1,
            max=65535,
            help="Listen on this port from now on (kept in .lumidb/server.json).",
        ),
    ] = None,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Create (first time) and start the local server.

    A free port is chosen when the server is created. If another program has taken it since, --port picks another one, kept for next time.

    Example: lumidb server start --port 54329
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.target import embedded_server

    return embedded_server(rt.settings).ensure_running(port=port)


@app.command()
def stop(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Stop the local server (its data stays in .lumidb/).

    Example: lumidb server stop
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.target import embedded_server

    server = embedded_server(rt.settings)
    return ServerStopped(stopped=server.stop(), state_dir=str(server.state_dir))


@app.command()
def status(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Show whether the local server exists and runs, and its URL (exit 1 when not running).

    Never creates nor starts the server.

    Example: lumidb server status --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.target import embedded_server

    return embedded_server(rt.settings).status()


@app.command()
def url(
    ctx: typer.Context,
    libpq: Annotated[
        bool,
        typer.Option("--libpq", help="A URL psql and libpq accept (no Prisma `schema` parameter)."),
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Print the local server's URL (one line), ready for the LumiAI .env.

    Never creates nor starts the server: exit 1, naming the command to run, when it is
    missing or stopped.

    Example: echo "DATABASE_URL=$(lumidb server url)" >> ../lumiai/.env
    Example: psql "$(lumidb server url --libpq)"
    """
    rt = runtime(ctx, debug=debug)
    from lumidb.target import embedded_server, libpq_url, require_running

    server = embedded_server(rt.settings)
    require_running(server)
    text = libpq_url(server.target()) if libpq else server.url()
    rt.output.out.print(text, markup=False, highlight=False)
