"""The ``lumidb`` program: ``lumidb --version`` is answered at once; everything else goes
to ``lumidb.cli`` (Typer), imported only then.

When the command is done, output is flushed and the process ends with ``os._exit``:
Python's own teardown (freeing every module psycopg, pydantic and rich loaded) costs
50-100 ms and does nothing lumidb needs. Every file, child process, lock and connection
is already closed by then (each lives in a ``with`` block), and nothing lumidb uses
registers ``atexit`` work. Tests that call ``lumidb.cli`` in-process are not affected.
"""

from __future__ import annotations

import contextlib
import os
import sys

EXIT_FLUSH_FAILED = 120  # what Python itself exits with when stdout cannot be flushed


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from lumidb import __version__

        sys.stdout.write(f"lumidb {__version__}\n")
        _exit(0)
    from lumidb.cli import main as cli_main

    try:
        cli_main()
        code = 0
    except SystemExit as exc:
        code = _code_of(exc)
    _exit(code)


def _code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _exit(code: int) -> None:
    """Flush what was written and end the process at once with ``code``."""
    try:
        sys.stdout.flush()
    except OSError:  # a closed pipe (`lumidb backups list | head -1`)
        code = code or EXIT_FLUSH_FAILED
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
