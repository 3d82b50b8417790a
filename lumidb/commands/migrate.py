"""``lumidb migrate``: the schema's revisions (Alembic), development and deploy flows."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from lumidb import render
from lumidb.commands.confirmation import confirm
from lumidb.commands.results import NothingToDo
from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, YesOption, runtime

app = typer.Typer(
    help=(
        "Apply, write and inspect schema revisions. Bare `lumidb migrate` runs the development flow:"
        " apply pending revisions, then write and apply a new one if the models changed.\n\n"
        "Example: lumidb migrate --name add_user_phone"
    ),
    invoke_without_command=True,
)


@app.callback()
def develop(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Name of the revision to write if the models changed."),
    ] = None,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Development flow: apply pending revisions; if the models changed, write a revision and apply it.

    Example: lumidb migrate --name add_user_phone
    """
    if ctx.invoked_subcommand is not None:
        return
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb import migrations

    target = rt.target()
    settings = rt.settings
    try:
        result = migrations.develop(
            target, name=name, lock_timeout=settings.lock_timeout, environment=settings.environment
        )
    except migrations.NameNeeded as needed:
        if not rt.output.interactive:
            raise
        render.show(rt.output, render.Drift(items=needed.drift))
        from rich.prompt import Prompt

        asked = Prompt.ask(
            "Name of the new revision (e.g. add_user_phone)", console=rt.output.err
        ).strip()
        if not asked:
            from lumidb.errors import RefusedError

            raise RefusedError("no name given; nothing was written") from None
        result = migrations.develop(
            target, name=asked, lock_timeout=settings.lock_timeout, environment=settings.environment
        )
    render.show(rt.output, result)


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
    result = migrations.deploy(
        rt.target(),
        environment=settings.environment_to_record,
        lock_timeout=settings.lock_timeout,
    )
    return result


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
    from lumidb import migrations

    return migrations.new_revision(None if empty else rt.target(), name)


@app.command()
def status(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when revisions are pending or the schema drifted."),
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
    from lumidb import migrations

    settings = rt.settings
    target = rt.target()
    try:
        plan = migrations.plan_down(target, revision, environment=settings.environment)
    except migrations.NothingToRevert as nothing:
        return NothingToDo(message=nothing.message)
    render.show(rt.output, plan, to_stderr=rt.output.json)
    confirm(
        rt.output,
        question="Revert these revisions? Their tables and data go.",
        yes=yes,
        production=plan.production,
        dbname=target.dbname,
    )
    return migrations.down(target, plan, lock_timeout=settings.lock_timeout)


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
    from lumidb import migrations

    return migrations.adopt(rt.target(), lock_timeout=rt.settings.lock_timeout)
