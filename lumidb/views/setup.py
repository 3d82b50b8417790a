"""What ``lumidb setup`` shows: the database ready, what was applied and seeded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from lumidb.console import Output
from lumidb.views.seed import seed_result
from lumidb.views.wording import View

if TYPE_CHECKING:
    from lumidb.setup import SetupResult


def setup_result(output: Output, result: SetupResult) -> None:
    for notice in result.notices:
        output.err.print(escape(notice))
    applied = ", ".join(result.applied) if result.applied else "none pending"
    output.out.print(
        f"[green]ready[/]: {escape(result.database)} ({escape(result.environment)}) at revision "
        f"{escape(', '.join(result.revision) or 'base')}; applied: {escape(applied)}"
    )
    if result.seeded is not None:
        seed_result(output, result.seeded)
    else:
        output.out.print(f"not seeded: {escape(result.seed_skipped or '')}")
    if result.embedded:
        output.out.print("the local server's URL for the LumiAI .env: [bold]lumidb server url[/]")


VIEWS: dict[str, View] = {"SetupResult": setup_result}
