"""How many sessions a restore opens on the server: the lock's, one working session, the children.

Every session lumidb opens costs a connection set-up (a TLS handshake on a remote
server), so a restore keeps two sessions of its own (the plan's aside) and hands them
down. A login event trigger (PostgreSQL 17 and later) tells the test of every session
that starts on the database, with its application name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from conftest import Cli
from test_restore import backup, seed

from lumidb.connection import DatabaseTarget

CHANNEL = "lumidb_test_logins"


@pytest.fixture
def logins(app_server: Any, db: DatabaseTarget) -> Iterator[psycopg.Connection[Any]]:
    """A session LISTENing to a notice for each session that starts on ``db``."""
    admin = app_server.admin_target(db.dbname)
    with psycopg.connect(autocommit=True, **admin.conninfo_params("test logins")) as conn:
        conn.execute("CREATE SCHEMA test_logins")
        conn.execute(
            f"""
            CREATE FUNCTION test_logins.note() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('{CHANNEL}', pg_backend_pid()::text || ' '
                                || current_setting('application_name'));
            END $$
            """
        )
        conn.execute(
            "CREATE EVENT TRIGGER test_logins ON login EXECUTE FUNCTION test_logins.note()"
        )
        conn.execute(f"LISTEN {CHANNEL}")
        try:
            yield conn
        finally:
            conn.execute("DROP EVENT TRIGGER test_logins")
            conn.execute("DROP SCHEMA test_logins CASCADE")


def sessions_since(conn: psycopg.Connection[Any]) -> Counter[str]:
    """Application name → sessions started since the last call (lumidb's own only)."""
    seen: Counter[str] = Counter()
    for notice in conn.notifies(timeout=1.0):
        _pid, _, name = notice.payload.partition(" ")
        if name.startswith("lumidb") and name != "lumidb tests":
            seen[name] += 1
    return seen


def test_default_restore_opens_few_sessions(
    cli: Cli, db: DatabaseTarget, logins: psycopg.Connection[Any]
) -> None:
    backups = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(backups))
    seed(db)
    backup(db, backups)
    sessions_since(logins)  # the backup's
    cli.use(db)
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 0, run.stderr
    # restore-latest: the plan's session, the lock's, the working session, psql. The
    # safety backup: its own session and pg_dump (its session goes once it takes conn=).
    assert sessions_since(logins) == Counter({"lumidb restore-latest": 4, "lumidb backup": 2})
