"""``lumidb server``: the embedded local PostgreSQL."""

from __future__ import annotations

import typer

from lumidb import render
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime

app = typer.Typer(
    help="Manage the local PostgreSQL that lumidb runs when no DATABASE_URL is set.",
    no_args_is_help=True,
)


@app.command()
def start(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Create (first time) and start the local server.

    Example: lumidb server start
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.target import embedded_server

    result = embedded_server(rt.settings).ensure_running()
    render.show(rt.output, result)


@app.command()
def stop(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Stop the local server (its data stays in .lumidb/).

    Example: lumidb server stop
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.target import embedded_server

    server = embedded_server(rt.settings)
    render.show(
        rt.output, render.ServerStopped(stopped=server.stop(), state_dir=str(server.state_dir))
    )


@app.command()
def status(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show whether the local server exists and runs, and its URL.

    Example: lumidb server status --json
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.target import embedded_server

    render.show(rt.output, embedded_server(rt.settings).status())


@app.command()
def url(ctx: typer.Context, debug: DebugOption = False) -> None:
    """Print the local server's URL (one line), ready for the LumiAI .env.

    Example: echo "DATABASE_URL=$(lumidb server url)" >> ../lumiai/.env
    """
    rt = runtime(ctx, debug=debug)
    from lumidb.target import embedded_server

    result = embedded_server(rt.settings).ensure_running()
    rt.output.out.print(result.url, markup=False, highlight=False)
