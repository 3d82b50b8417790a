"""The root of the command line: global options, one sub-app per group, and the edge.

The edge shows the result a command returns and turns it, or a lumidb error, into the
exit code: one line on stderr for an error, exactly one JSON document with ``--json``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from lumidb import __version__, exit_codes
from lumidb.commands import (
    backup,
    backups,
    inactive,
    migrate,
    psql,
    purge,
    reset,
    restore,
    restore_inactive,
    seed,
    server,
    setup,
)
from lumidb.commands import doctor as doctor_cmd
from lumidb.commands.runtime import Runtime
from lumidb.errors import LumidbError

_typer_display_type_rich = TyperOption.display_type_rich


def _flag_shows_no_type(self: TyperOption, ctx: Any) -> str | None:
    """Typer 0.29 prints ``<bool>`` after every flag in ``--help``, as if it took a value."""
    return None if self.is_flag else _typer_display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_shows_no_type  # type: ignore[method-assign]


# Options each command takes for itself, which users often put before the command.
COMMAND_OPTIONS = frozenset({"--json", "--quiet", "-q", "--yes", "-y", "--dry-run"})


class LumidbGroup(TyperGroup):
    """The edge: shows the result a command returns and exits with its code; turns lumidb's
    errors into one line on stderr (and the error document with ``--json``) and theirs."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """``lumidb --json backups list``: say where the option goes (exit 2)."""
        if ctx.parent is None:
            for arg in args:
                if not arg.startswith("-"):
                    break
                if arg in COMMAND_OPTIONS:
                    rest = " ".join(a for a in args if a != arg)
                    example = f"lumidb {rest} {arg}" if rest else f"lumidb COMMAND {arg}"
                    typer.echo(f"error: {arg} goes after the command: {example}", err=True)
                    raise typer.Exit(exit_codes.USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Run the command, show the result it returns, exit with the result's code."""
        try:
            result = super().invoke(ctx)
            if result is not None:
                _show_and_exit(_runtime_of(ctx), result)
            return None
        except LumidbError as exc:
            state = _runtime_of(ctx)
            if state.debug:
                _print_traceback()
            if state.output.json:
                state.output.emit_json(
                    {
                        "version": 1,
                        "kind": "error",
                        "error": exc.message,
                        "hint": exc.hint,
                        "exit_code": exc.exit_code,
                    }
                )
            state.output.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            state = _runtime_of(ctx)
            state.output.error("interrupted")
            raise typer.Exit(exit_codes.FAILED) from None
        except Exception as exc:
            if type(exc).__module__.startswith("typer") or isinstance(exc, SystemExit):
                raise
            state = _runtime_of(ctx)
            if state.debug:
                _print_traceback()
            if state.debug:  # an unknown error's text may hold anything (a secret)
                first = (str(exc).strip().splitlines() or [""])[0]
                state.output.error(f"unexpected {type(exc).__name__}: {first}")
            else:
                state.output.error(f"unexpected {type(exc).__name__}; run with --debug")
            raise typer.Exit(exit_codes.FAILED) from None


def _print_traceback() -> None:
    import traceback  # with --debug only: it costs --help and --version time

    traceback.print_exc()


def _runtime_of(ctx: typer.Context) -> Runtime:
    return ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()


def _show_and_exit(state: Runtime, result: object) -> None:
    """A command's result: shown (one JSON document with --json), then its exit code.

    A result that carries a failure (``lumidb.outcome``) adds the one error line on
    stderr; it is not raised, so no second JSON document follows the first.
    """
    from lumidb import render
    from lumidb.outcome import failure_of

    render.show(state.output, result)
    failure = failure_of(result)
    if failure is not None:
        state.output.error(str(failure))
        raise typer.Exit(failure.exit_code)


app = typer.Typer(
    name="lumidb",
    cls=LumidbGroup,
    help="Database operations for LumiAI on PostgreSQL: migrate, back up, restore, seed, purge.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(migrate.app, name="migrate")
app.add_typer(server.app, name="server")
app.command(name="doctor")(doctor_cmd.doctor)
app.command(name="backup")(backup.backup)
app.add_typer(backups.app, name="backups")
app.command(name="restore-latest")(restore.restore_latest)
app.command(name="seed")(seed.seed)
app.command(name="reset")(reset.reset)
app.command(name="setup")(setup.setup)
app.command(name="psql")(psql.psql)
app.command(name="purge")(purge.purge)
app.command(name="restore-inactive")(restore_inactive.restore_inactive)
app.command(name="inactive")(inactive.inactive)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lumidb {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """lumidb: safe, honest database chores for LumiAI."""
    ctx.obj = Runtime(debug=debug)


def main() -> None:
    app()
