"""The one lock of lumidb: a PostgreSQL advisory lock per database.

Every command that changes the database takes it, so no two interleave (two CI jobs
deploying, a restore while a purge runs). The second run waits a bounded time, then is
refused (exit 3) with the name, pid and start time of what holds it. The lock is held
on a connection of its own, for as long as the command runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import RefusedError

# pg_advisory_lock(int4, int4): 'lumi' and 1. Advisory locks are per database already.
LOCK_CLASS = 0x6C756D69
LOCK_ID = 1
POLL_INTERVAL_S = 0.2


@contextmanager
def database_lock(target: DatabaseTarget, purpose: str, *, timeout: float) -> Iterator[None]:
    """Hold lumidb's lock on the target database while the block runs.

    ``purpose`` (e.g. ``"migrate deploy"``) becomes the connection's application name,
    which is how a waiting run can tell the user what holds the lock.
    """
    with connect(target, application_name=f"lumidb {purpose}") as conn:
        deadline = time.monotonic() + timeout
        while True:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_ID)
            ).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                raise RefusedError(
                    f"another run holds lumidb's lock on {target.dbname}: {_holder(conn)}",
                    hint=f"waited {timeout:g}s; try again when it has finished, or raise LUMIDB_LOCK_TIMEOUT",
                )
            time.sleep(POLL_INTERVAL_S)
        try:
            yield
        finally:
            _release(conn)


def _release(conn: Any) -> None:
    """Give the lock back; on a dead session there is nothing to give back.

    The server drops a session's advisory locks with the session, so when the lock's
    connection was lost (the server stopped, an admin ended it) the unlock is skipped,
    and its failure never replaces the error the command is reporting (or its success).
    """
    import psycopg

    try:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_ID))
    except psycopg.OperationalError:
        pass
    if conn.broken:
        conn.close()  # so leaving the connection's block does not touch it again


def describe_session(
    pid: int, app: str | None, user: str, addr: str | None, detail: str | None = None
) -> str:
    """One session of pg_stat_activity, for messages: the one way lumidb names a session."""
    extra = f", {detail}" if detail else ""
    return (
        f"'{app or 'no application_name'}' (pid {pid}, user {user}, from {addr or 'local'}{extra})"
    )


def _holder(conn: Any) -> str:
    row = conn.execute(
        """
        SELECT a.application_name, a.pid, a.usename, a.client_addr::text,
               to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS')
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s
          AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LIMIT 1
        """,
        (LOCK_CLASS, LOCK_ID),
    ).fetchone()
    if row is None:
        return "a run that has just finished"
    name, pid, user, addr, since = row
    return describe_session(pid, name, user, addr, f"since {since}")
