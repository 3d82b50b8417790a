"""A restore and the other sessions: its own few, the application's, a second lumidb, Ctrl-C
(and how few sessions `migrate deploy`, `seed` and `reset` open: the lock's and one working session).

Every session lumidb opens costs a connection set-up (a TLS handshake on a remote
server), so a restore keeps two sessions of its own (the plan's aside) and hands them
down. A login event trigger (PostgreSQL 17 and later) tells the test of every session
that starts on the database, with its application name.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import APP_PASSWORD, LUMIDB, Cli, CommandLineWatcher, clean_env, url_of
from test_restore import backup, change, seed, snapshot, sql

from lumidb.connection import DatabaseTarget

CHANNEL = "lumidb_test_logins"


@pytest.fixture
def backups(cli: Cli) -> Path:
    folder = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    return folder


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
    cli: Cli, db: DatabaseTarget, backups: Path, logins: psycopg.Connection[Any]
) -> None:
    seed(db)
    backup(db, backups)
    sessions_since(logins)  # the backup's
    cli.use(db)
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 0, run.stderr
    # restore-latest: the plan's session, the lock's, the working session, psql. The
    # safety backup runs on the working session; pg_dump is its one session of its own.
    assert sessions_since(logins) == Counter({"lumidb restore-latest": 4, "lumidb backup": 1})


def test_deploy_opens_the_locks_session_and_one_working_session(
    cli: Cli, db: DatabaseTarget, logins: psycopg.Connection[Any]
) -> None:
    cli.use(db)
    run = cli("migrate", "deploy")
    assert run.exit_code == 0, run.stderr
    # The lock's session and Alembic's; the environment record is read on Alembic's.
    assert sessions_since(logins) == Counter({"lumidb migrate deploy": 2})


# --- locks, sessions, interrupts ----------------------------------------------------


def test_application_lock_bounded_wait_then_terminate(
    cli: Cli, db: DatabaseTarget, backups: Path
) -> None:
    seed(db)
    expected = snapshot(db)
    backup(db, backups)
    change(db)
    before = snapshot(db)
    cli.use(db)
    cli.setenv("LUMIDB_RESTORE_LOCK_TIMEOUT", "1")
    app = psycopg.connect(**db.conninfo_params("lumiai-api"))
    try:
        app.execute("LOCK TABLE users IN ACCESS SHARE MODE")
        pid = app.info.backend_pid
        started = time.monotonic()
        run = cli("restore-latest", "--yes", "--no-safety-backup")
        assert run.exit_code == 1
        assert time.monotonic() - started < 15
        assert f"pid {pid}" in run.stderr and "lumiai-api" in run.stderr
        assert "--terminate-connections" in run.stderr
        assert snapshot(db) == before
        run = cli("restore-latest", "--yes", "--no-safety-backup", "--terminate-connections")
        assert run.exit_code == 0, run.stderr
        assert snapshot(db) == expected
    finally:
        app.close()


def test_second_restore_waits_on_lumidbs_lock_then_refuses(
    cli: Cli, db: DatabaseTarget, backups: Path
) -> None:
    from lumidb.locks import database_lock

    seed(db)
    backup(db, backups)
    change(db)
    before = snapshot(db)
    cli.use(db)
    cli.setenv("LUMIDB_LOCK_TIMEOUT", "0.5")
    with database_lock(db, "restore-latest", timeout=5):
        run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 3
    assert "lumidb restore-latest" in run.stderr
    assert snapshot(db) == before


def _lumidb_process(db: DatabaseTarget, folder: Path, *args: str) -> subprocess.Popen[bytes]:
    env = clean_env(DATABASE_URL=url_of(db), LUMIDB_BACKUP_DIR=str(folder))
    return subprocess.Popen(
        [LUMIDB, "restore-latest", *args],
        env=env,
        cwd=folder.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_ctrl_c_mid_load_leaves_database_unchanged(db: DatabaseTarget, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    sql(
        db,
        """
        INSERT INTO users (id, email, password, name, "updatedAt")
        SELECT 'u' || g, 'u' || g || '@x.test', repeat('h', 60), 'name ' || g, now()
        FROM generate_series(1, 150000) g
        """,
    )
    backup(db, folder)
    sql(db, "DELETE FROM users WHERE id <> 'u1'")
    before = snapshot(db)
    proc = _lumidb_process(db, folder, "--yes", "--no-safety-backup")
    deadline = time.monotonic() + 30
    loading = False
    while time.monotonic() < deadline and proc.poll() is None and not loading:
        loading = bool(
            sql(
                db,
                """SELECT 1 FROM pg_stat_activity WHERE application_name = 'lumidb restore-latest'
                   AND state = 'active' AND query ILIKE 'COPY%%'""",
            )
        )
        time.sleep(0.01)
    assert loading, "the restore never reached COPY"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    assert b"interrupted" in stderr and b"unchanged" in stderr
    assert snapshot(db) == before


def test_no_password_in_any_argv(db: DatabaseTarget, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    seed(db, users=2000)
    backup(db, folder, format="custom")
    with CommandLineWatcher() as argv:
        proc = _lumidb_process(db, folder, "--yes")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert APP_PASSWORD.encode() not in out + err
    assert argv.leaks == []
    for program in ("psql", "pg_dump"):
        assert argv.saw(lambda line, p=program: f"/{p} " in line), program


def test_seed_and_reset_hold_the_lock_and_one_working_session(
    cli: Cli, db: DatabaseTarget, logins: psycopg.Connection[Any], tmp_path: Path
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(tmp_path / "backups"))
    assert cli("seed").exit_code == 0
    # The check before any prompt, the lock's session, the working session.
    assert sessions_since(logins) == Counter({"lumidb seed": 3})
    run = cli("reset", "--yes")
    assert run.exit_code == 0, run.stderr
    # The plan's, the lock's, the working session (Alembic, the checks and the safety
    # backup's reads on it); pg_dump is the safety backup's only session of its own.
    assert sessions_since(logins) == Counter({"lumidb reset": 3, "lumidb backup": 1})
