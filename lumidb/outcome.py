"""How a result ends its command: exit 0, or the error (and so the exit code) that says why not.

Some results are worth showing in full and still end their command with a non-zero exit
code: a doctor report with a failing check, a backup that did not verify, an adoption
refused because the schema differs. A command returns such a result like any other; the
edge of the program (``lumidb.cli``) shows it, then prints ``failure`` as the one error
line on stderr and exits with its code. So ``--json`` still prints exactly one document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lumidb import exit_codes

if TYPE_CHECKING:
    from lumidb.errors import LumidbError


class Outcome:
    """Base of results whose command can fail after showing them; others end with 0."""

    @property
    def failure(self) -> LumidbError | None:
        """Why the command fails after showing this result; None when it succeeded."""
        return None

    @property
    def exit_code(self) -> int:
        failure = self.failure
        return exit_codes.SUCCESS if failure is None else failure.exit_code


def failure_of(result: object) -> LumidbError | None:
    """The failure a command's result carries (None for results that cannot fail)."""
    return result.failure if isinstance(result, Outcome) else None
