"""SIGTERM as an exception, while lumidb runs a child program it must clean up after.

A cron daemon, systemd or CI stops a job with SIGTERM. During a dump or a restore that
must not kill lumidb on the spot: the temporary file has to go, psql has to end before
the lock is let go. ``sigterm_raises`` turns SIGTERM into ``Terminated`` for a block,
so the same cleanup as for Ctrl-C runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(BaseException):
    """SIGTERM arrived while a ``sigterm_raises`` block ran."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
