"""The error hierarchy of lumidb.

Core modules raise these; the edge of the program (``lumidb.cli``) turns them into
one line on stderr and the exit code each one carries. Messages never contain a
password: anything that shows a URL goes through ``DatabaseTarget.masked_url``.
"""

from __future__ import annotations

from lumidb import exit_codes


class LumidbError(Exception):
    """Base of every error lumidb reports to a user."""

    exit_code: int = exit_codes.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(LumidbError):
    """Bad usage, configuration or input (exit 2)."""

    exit_code = exit_codes.USAGE


class OperationError(LumidbError):
    """The operation was attempted and failed (exit 1)."""

    exit_code = exit_codes.FAILED


class ConnectionFailed(OperationError):
    """The database server could not be reached or refused the login (exit 1)."""


class RefusedError(LumidbError):
    """A safety guard, a declined confirmation or a held lock stopped the command (exit 3)."""

    exit_code = exit_codes.REFUSED
