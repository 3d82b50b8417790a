"""What ``lumidb doctor`` shows: one line per check, the fix under each failing one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from lumidb.console import Output
from lumidb.views.wording import View, ok_mark

if TYPE_CHECKING:
    from lumidb.doctor import DoctorReport


def doctor_report(output: Output, report: DoctorReport) -> None:
    for check in report.checks:
        mark = "[yellow]![/]" if check.warning else ok_mark(check.ok)
        output.out.print(f"{mark} [bold]{check.name}[/]: {escape(check.detail)}")
        if check.fix and (check.warning or not check.ok):
            output.out.print(f"    [yellow]fix:[/] {escape(check.fix)}")
    warned = any(c.warning for c in report.checks)
    if not report.ok:
        summary = "[red]some checks failed[/]"
    else:
        summary = "[green]all checks passed[/]" + (" [yellow](with warnings)[/]" if warned else "")
    output.out.print(summary)


VIEWS: dict[str, View] = {"DoctorReport": doctor_report}
