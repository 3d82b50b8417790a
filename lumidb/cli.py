"""The root of the command line: global options, one sub-app per group, and the edge.

The edge shows the result a command returns and turns it, or a lumidb error, into the
exit code: one line on stderr for an error, exactly one JSON document with ``--json``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from lumidb import __version__, exit_codes
from lumidb.commands import typer_patches
from lumidb.commands.runtime import Runtime
from lumidb.errors import LumidbError

typer_patches.install()

# Options each command takes for itself, which users often put before the command.
COMMAND_OPTIONS = frozenset({"--json", "--quiet", "-q", "--yes", "-y", "--dry-run"})


@dataclass(frozen=True)
class Entry:
    """A command of the root, imported only when it runs (or for its own ``--help``).

    ``summary`` is the line ``lumidb --help`` shows: the first paragraph of the command's
    docstring (or of its group's help), kept equal to it by tests/test_cli_lazy.py.
    """

    module: str
    attribute: str
    summary: str


# The commands in the order `lumidb --help` lists them; each one's code is
# lumidb/commands/<module>.py.
COMMANDS: dict[str, Entry] = {
    "migrate": Entry(
        "lumidb.commands.migrate",
        "app",
        "Apply, write and inspect schema revisions. Bare `lumidb migrate` runs the development"
        " flow: apply pending revisions, then write and apply a new one if the models changed."
        " The options below are the development flow's; a subcommand's options come after it"
        " (lumidb migrate deploy --json).",
    ),
    "server": Entry(
        "lumidb.commands.server",
        "app",
        "Manage the local PostgreSQL that lumidb runs when no DATABASE_URL is set.",
    ),
    "doctor": Entry(
        "lumidb.commands.doctor",
        "doctor",
        "Check configuration, connection, server, client programs, migrations and backups.",
    ),
    "backup": Entry(
        "lumidb.commands.backup",
        "backup",
        "Dump the database into the backup directory, with a checksummed manifest.",
    ),
    "backups": Entry(
        "lumidb.commands.backups",
        "app",
        "List, verify and prune backups; check a backup location.",
    ),
    "restore-latest": Entry(
        "lumidb.commands.restore",
        "restore_latest",
        "Replace the data with the newest complete backup, in one transaction (not with --jobs).",
    ),
    "seed": Entry(
        "lumidb.commands.seed",
        "seed",
        "Add the admin (LUMIDB_ADMIN_EMAIL) and the sample catalogue where they are missing.",
    ),
    "reset": Entry(
        "lumidb.commands.reset",
        "reset",
        "Drop every table and type of the application, run every migration, then seed.",
    ),
    "setup": Entry(
        "lumidb.commands.setup",
        "setup",
        "Start the local server (no DATABASE_URL), apply revisions, seed a new database.",
    ),
    "psql": Entry(
        "lumidb.commands.psql",
        "psql",
        "Open psql on the target database (DATABASE_URL, else the local server).",
    ),
    "purge": Entry(
        "lumidb.commands.purge",
        "purge",
        "Permanently remove soft-deleted users and products, keeping order history whole.",
    ),
    "restore-inactive": Entry(
        "lumidb.commands.restore_inactive",
        "restore_inactive",
        "Reactivate soft-deleted users and products (all, or the ones the filters name).",
    ),
    "inactive": Entry(
        "lumidb.commands.inactive",
        "inactive",
        "List soft-deleted users and products, their age, and what `purge` would do to each.",
    ),
}


def load_command(name: str) -> Any:
    """Import one root command's module and build its click command (a group for a sub-app)."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command: Any = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LumidbGroup(TyperGroup):
    """The edge: shows the result a command returns and exits with its code; turns lumidb's
    errors into one line on stderr (and the error document with ``--json``) and theirs."""

    _listing = False  # True while format_help lists the commands

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, imported now; while ``lumidb --help`` lists them, its summary only."""
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].summary)
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer suggests from the commands built so far: here, from every command's name."""
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError: "No such command 'backp'."
            message = getattr(exc, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                matches = difflib.get_close_matches(args[0], list(COMMANDS))
                if matches:
                    names = ", ".join(repr(match) for match in matches)
                    exc.message = f"{message.rstrip('.')}. Did you mean {names}?"  # type: ignore[attr-defined]
            raise

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

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
