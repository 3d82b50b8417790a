"""lumidb's database lock: held on a session of its own, and never the error reported."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
from conftest import LUMIDB, clean_env, url_of
from test_restore import backup, seed, snapshot, sql

from lumidb.connection import DatabaseTarget


def test_a_dead_lock_session_never_masks_the_real_error(db: DatabaseTarget, tmp_path: Path) -> None:
    """The server ends every lumidb session mid-restore (as a shutdown or an admin
    does): the restore reports what happened to it, not the unlock on a dead connection."""
    seed(db)
    folder = tmp_path / "backups"
    backup(db, folder)
    sql(db, "DELETE FROM users WHERE id = 'u1'")
    before = snapshot(db)
    with psycopg.connect(**db.conninfo_params("lumidb tests")) as blocker:
        # Holds the restore at its first DROP, so it is mid-way for sure.
        blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")
        proc = subprocess.Popen(
            [LUMIDB, "restore-latest", "--yes", "--no-safety-backup"],
            cwd=tmp_path,
            env=clean_env(
                DATABASE_URL=url_of(db),
                LUMIDB_BACKUP_DIR=str(folder),
                LUMIDB_RESTORE_LOCK_TIMEOUT="60",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waiting: list[tuple[int]] = []
        deadline = time.monotonic() + 30
        while not waiting and time.monotonic() < deadline:
            waiting = sql(
                db,
                """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                   AND application_name LIKE 'lumidb restore%%' AND wait_event_type = 'Lock'""",
            )
            time.sleep(0.05)
        assert waiting, "the restore never reached its load"
        ended = sql(
            db,
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND application_name LIKE 'lumidb restore%%'""",
        )
        assert len(ended) >= 2  # the lock's session and psql's
        _, stderr = proc.communicate(timeout=60)
        blocker.rollback()
    assert proc.returncode == 1, stderr
    assert "unexpected" not in stderr, stderr
    assert "rolled back" in stderr or "terminat" in stderr, stderr
    assert snapshot(db) == before
