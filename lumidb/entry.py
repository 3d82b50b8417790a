"""The ``lumidb`` program: ``lumidb --version`` is answered at once; everything else goes
to ``lumidb.cli`` (Typer), imported only then.

When the command is done, output is flushed and the process ends with ``os._exit``:
Python's own teardown (freeing every module psycopg, pydantic and rich loaded) costs
50-100 ms and does nothing lumidb needs. Every file, child process, lock and connection
is already closed by then (each lives in a ``with`` block), and nothing lumidb uses
registers ``atexit`` work. Tests that call ``lumidb.cli`` in-process are not affected.
"""

from __future__ import annotations

import os
import sys

FAILED = 1  # lumidb.exit_codes.FAILED, without importing anything


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from lumidb import __version__

        try:
            if sys.stdout is not None:
                sys.stdout.write(f"lumidb {__version__}\n")
        except OSError:
            _exit(FAILED)
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
    return FAILED


def _exit(code: int) -> None:
    """Flush what was written and end the process at once with ``code``.

    Output that could not be written (a closed pipe: `lumidb backups list | head -0`)
    makes a successful command exit 1, never 0.
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, a closed file
            if stream is sys.stdout:
                code = code or FAILED
    os._exit(code)
