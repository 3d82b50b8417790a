"""Asking before anything destructive; the one place that does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lumidb.errors import RefusedError

if TYPE_CHECKING:
    from lumidb.console import Output


def confirm(output: Output, *, question: str, yes: bool, production: bool, dbname: str) -> None:
    """Go on only when the user agreed: ``--yes``, a yes at a terminal, or the typed name.

    Without a terminal and without ``--yes`` it refuses at once instead of waiting.
    On a production database the user types the database name.
    """
    if yes:
        return
    from rich.prompt import Confirm, Prompt

    if not output.interactive:
        raise RefusedError(
            "this needs confirmation and there is no terminal to ask at", hint="pass --yes"
        )
    if production:
        typed = Prompt.ask(
            f"[bold red]PRODUCTION[/] database. Type its name ([bold]{dbname}[/]) to go on",
            console=output.err,
        )
        if typed.strip() != dbname:
            raise RefusedError("the name did not match; nothing was changed")
        return
    if not Confirm.ask(question, console=output.err, default=False):
        raise RefusedError("declined; nothing was changed")
