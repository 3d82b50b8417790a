"""``lumidb migrate``: the schema's revisions (Alembic), development and deploy flows."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.results import Drift, NothingToDo
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime

if TYPE_CHECKING:
    from lumidb.migrations import DevResult


class MigrateGroup(TyperGroup):
    """Keeps what came before and after a subcommand, so a misplaced option can be named."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        given = list(args)
        rest = super().parse_args(ctx, args)
        # A subcommand's name and arguments are the tail of what was given.
        ctx.meta[_BEFORE] = given[: max(len(given) - len(ctx.args) - 1, 0)]
        ctx.meta[_AFTER] = list(ctx.args)
        return rest


_BEFORE, _AFTER = "lumidb.migrate.before", "lumidb.migrate.after"

app = typer.Typer(
    cls=MigrateGroup,
    help=(
        "Apply, write and inspect schema revisions. Bare `lumidb migrate` runs the development flow:"
        " apply pending revisions, then write and apply a new one if the models changed."
        " The options below are the development flow's; a subcommand's options come after it"
        " (lumidb migrate deploy --json).\n\n"
        "Example: lumidb migrate --name add_user_phone"
    ),
    invoke_without_command=True,
)


@app.callback()
def migrate(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Name of the revision to write if the models changed."),
    ] = None,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Development flow: apply pending revisions; if the models changed, write a revision and apply it.

    Example: lumidb migrate --name add_user_phone
    """
    if ctx.invoked_subcommand is None:
        return develop(ctx, name=name, json=json, quiet=quiet, debug=debug)
    runtime(ctx, debug=debug)  # --debug may come before the subcommand; nothing else may
    refuse_misplaced_options(ctx, ctx.invoked_subcommand, name=name)
    return None


def refuse_misplaced_options(ctx: typer.Context, subcommand: str, *, name: str | None) -> None:
    """``lumidb migrate --json deploy``, ``lumidb migrate --name x status``: say where it goes."""
    from lumidb.errors import UsageError

    owner = {opt: p.name for p in ctx.command.params if p.name != "debug" for opt in p.opts}
    for token in ctx.meta.get(_BEFORE, []):
        option = token.split("=", 1)[0]
        if option not in owner and not option.startswith("--"):
            option = option[:2]  # -nNAME
        if owner.get(option) == "name":
            instead = (
                f": to name a new revision, lumidb migrate new {name}"
                if subcommand == "new"
                else ""
            )
            raise UsageError(
                f"{option} is for the development flow alone (lumidb migrate {option} {name}); "
                f"`lumidb migrate {subcommand}` does not take it{instead}"
            )
        if option in owner:
            rest = " ".join([subcommand, *ctx.meta.get(_AFTER, [])])
            raise UsageError(f"{option} goes after the command: lumidb migrate {rest} {option}")


def develop(
    ctx: typer.Context, *, name: str | None, json: bool, quiet: bool, debug: bool
) -> DevResult:
    """The development flow (bare ``lumidb migrate``); asks for a name at a terminal."""
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migration_dev

    target = rt.target()
    settings = rt.settings
    try:
        result = migration_dev.develop(
            target, name=name, lock_timeout=settings.lock_timeout, environment=settings.environment
        )
    except migration_dev.NameNeeded as needed:
        if not rt.output.interactive:
            raise
        render.show(rt.output, Drift(items=needed.drift))
        from rich.prompt import Prompt

        asked = Prompt.ask(
            "Name of the new revision (e.g. add_user_phone)", console=rt.output.err
        ).strip()
        if not asked:
            from lumidb.errors import RefusedError

            raise RefusedError("no name given; nothing was written") from None
        result = migration_dev.develop(
            target, name=asked, lock_timeout=settings.lock_timeout, environment=settings.environment
        )
    return result


@app.command()
def deploy(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Apply pending revisions only (CI, production). Never writes revisions, never asks.

    Example: lumidb migrate deploy --quiet
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migrations

    settings = rt.settings
    return migrations.deploy(
        rt.target(),
        environment=settings.environment_to_record,
        lock_timeout=settings.lock_timeout,
    )


@app.command()
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the revision does, e.g. add_user_phone.")],
    empty: Annotated[
        bool,
        typer.Option("--empty", help="Write an empty revision; do not compare with the database."),
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Write a new revision from the models' changes (or an empty one), without applying it.

    When the models match the database, says so and writes nothing (exit 0); --empty
    writes an empty revision for hand-written changes (data fixes, say).

    Example: lumidb migrate new add_user_phone
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migration_dev

    return migration_dev.new_revision(None if empty else rt.target(), name)


@app.command()
def status(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 when revisions are pending, the schema drifted or the database is not adopted.",
        ),
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Show the current revision, the head, pending revisions and drift.

    Example: lumidb migrate status --check
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migrations

    return replace(migrations.status(rt.target(start_embedded=False)), checked=check)


@app.command()
def history(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """List every revision, oldest first, and which are applied.

    Example: lumidb migrate history
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migrations

    return migrations.history(rt.target(start_embedded=False))


@app.command()
def down(
    ctx: typer.Context,
    revision: Annotated[
        str | None,
        typer.Argument(help="Revision to go down to (default: one step; 'base' for all)."),
    ] = None,
    yes: YesOption = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Revert revisions (development databases only), after showing what will be reverted.

    Example: lumidb migrate down --yes
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migration_down

    settings = rt.settings
    target = rt.target()
    try:
        plan = migration_down.plan_down(target, revision, environment=settings.environment)
    except migration_down.NothingToRevert as nothing:
        return NothingToDo(message=nothing.message)
    render.show(rt.output, plan, to_stderr=rt.output.json)
    confirm(
        rt.output,
        question="Revert these revisions? Their tables and data go.",
        yes=yes,
        production=plan.production,
        dbname=target.dbname,
    )
    return migration_down.down(target, plan, lock_timeout=settings.lock_timeout)


@app.command()
def adopt(
    ctx: typer.Context,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Take over a database created by the old Prisma setup: compare, then record revision 0001.

    Changes no data. Refuses (exit 3) when the schema differs, listing every difference.

    Example: lumidb migrate adopt
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.adopt import adopt as adopt_database

    return adopt_database(rt.target(), lock_timeout=rt.settings.lock_timeout)
