"""What ``lumidb server`` shows: the local PostgreSQL's state, start and stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from lumidb.console import Output
from lumidb.views.wording import View

if TYPE_CHECKING:
    from lumidb.commands.results import ServerStopped
    from lumidb.server import ServerStatus, StartResult


def server_status(output: Output, status: ServerStatus) -> None:
    if not status.created:
        output.out.print(
            f"no local server yet in {escape(status.state_dir)} (`lumidb server start` creates one)"
        )
        return
    state = "[green]running[/]" if status.running else "[yellow]stopped[/]"
    output.out.print(
        f"local PostgreSQL {status.postgres_version}: {state} (pid {status.pid or '-'})"
    )
    output.out.print(f"  data: {escape(status.state_dir)}")
    output.out.print(f"  url:  {escape(status.url or '')}")


def start_result(output: Output, result: StartResult) -> None:
    if result.created:
        what = "created and started"
    elif result.started:
        what = "started"
    else:
        what = "already running"
    output.out.print(f"local PostgreSQL {what}: {escape(result.url)}")
    for change in result.opened:
        output.err.print(
            f"opened for the server's system user (o+x, traversal only): {escape(change)}"
        )


def server_stopped(output: Output, result: ServerStopped) -> None:
    output.out.print(
        "local PostgreSQL stopped" if result.stopped else "local PostgreSQL was not running"
    )


VIEWS: dict[str, View] = {
    "ServerStatus": server_status,
    "StartResult": start_result,
    "ServerStopped": server_stopped,
}
