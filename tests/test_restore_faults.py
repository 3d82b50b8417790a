"""restore-latest when things go wrong mid-way: kill -9 at any moment, a full disk on
either side, the server stopping, and a client holding prepared statements throughout.

The restore is one transaction (README, "How a restore runs"): whatever happens before
COMMIT, the database is exactly as it was; after COMMIT it is exactly the backup.
Never a mix, never a lock left behind, and the next run works.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import APP_PASSWORD, APP_ROLE, LUMIDB, Cli, app_target, clean_env, url_of
from servers import Pg18TestServer
from test_restore import backup, seed, snapshot, sql

from lumidb.connection import DatabaseTarget

USERS = 120_000  # enough rows that each phase of a restore lasts long enough to be hit


def to_b(target: DatabaseTarget) -> None:
    """State B from state A, the same every time (fixed timestamps)."""
    sql(target, "DELETE FROM users WHERE id = 'u1'")
    sql(target, "UPDATE users SET name = 'changed' WHERE id = 'u2'")
    sql(
        target,
        """INSERT INTO users (id, email, password, "createdAt", "updatedAt")
           VALUES ('new', 'n@x.test', 'h', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')""",
    )


class Watch:
    """A superuser session on another database, to see what the restore is doing."""

    def __init__(self, server: Any, dbname: str) -> None:
        self.dbname = dbname
        params = server.admin_target("postgres").conninfo_params("lumidb tests watch")
        self.conn = psycopg.connect(autocommit=True, **params)

    def seen(self, query: str) -> bool:
        return self.conn.execute(query, (self.dbname,)).fetchone() is not None

    def wait_for(self, query: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> bool:
        """Until ``query`` returns a row (True), or the restore ended first (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.seen(query):
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.005)
        pytest.fail(f"nothing matched within {timeout} s: {query}")

    def wait_until_gone(self, timeout: float = 30) -> None:
        """Until no session is left on the database (psql died with lumidb, rolled back)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.seen(
                "SELECT 1 FROM pg_stat_activity WHERE datname = %s"
                " AND backend_type = 'client backend'"
            ):
                return
            time.sleep(0.05)
        pytest.fail("a session of the killed restore is still on the database")


SAFETY_DUMP = (
    "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE 'COPY %% TO stdout%%'"
)
LOAD_COPY = "SELECT 1 FROM pg_stat_progress_copy WHERE datname = %s AND command = 'COPY FROM'"
INDEX_BUILD = "SELECT 1 FROM pg_stat_progress_create_index WHERE datname = %s"


@pytest.fixture
def states(cli: Cli, db: DatabaseTarget) -> Iterator[tuple[dict[str, Any], dict[str, Any], Path]]:
    """State A backed up, the database then at state B; (A, B, the backup folder)."""
    seed(db, users=USERS)
    folder = cli.workdir / "backups"
    backup(db, folder)
    a = snapshot(db)
    to_b(db)
    b = snapshot(db)
    assert a != b
    yield a, b, folder


def _restore(
    db: DatabaseTarget,
    folder: Path,
    workdir: Path,
    *args: str,
    preexec: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    env = clean_env(DATABASE_URL=url_of(db), LUMIDB_BACKUP_DIR=str(folder))
    return subprocess.Popen(
        [LUMIDB, "restore-latest", "--yes", *args],
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )


def _leftovers(folder: Path) -> list[str]:
    """Files in the backup folder that are not a backup with its manifest (or the lock)."""
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    odd = []
    for name in sorted(names):
        if name.endswith(".lumidb-backup.lock") or name.endswith(".manifest.json"):
            continue
        if f"{name}.manifest.json" not in names:
            odd.append(name)
    return odd


def test_kill_9_at_any_moment_leaves_the_old_data_or_the_new_never_a_mix(
    cli: Cli, db: DatabaseTarget, app_server: Any, states: tuple[Any, Any, Path]
) -> None:
    a, b, folder = states
    watch = Watch(app_server, db.dbname)
    # One whole run, timed, to place the timed kills; it leaves A: back to B.
    started = time.monotonic()
    whole = _restore(db, folder, cli.workdir)
    _, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err.decode()
    duration = time.monotonic() - started
    assert snapshot(db) == a
    to_b(db)
    outcomes: list[str] = []
    moments: list[tuple[str, str | None, float]] = [
        ("in the safety backup", SAFETY_DUMP, 0.0),
        ("in the load's COPY", LOAD_COPY, 0.0),
        ("in an index build", INDEX_BUILD, 0.0),
        *(
            (f"at {f:.0%} of a whole run", None, f * duration)
            for f in (0.1, 0.3, 0.5, 0.7, 0.9, 0.98)
        ),
    ]
    for label, event, delay in moments:
        args = () if event == SAFETY_DUMP or event is None else ("--no-safety-backup",)
        for _attempt in range(3 if event is not None else 1):  # a phase can be missed once
            proc = _restore(db, folder, cli.workdir, *args)
            try:
                if event is not None:
                    hit = watch.wait_for(event, proc)
                else:
                    time.sleep(delay)
                    hit = proc.poll() is None
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.kill()
                proc.communicate(timeout=30)
            watch.wait_until_gone()
            now = snapshot(db)
            assert now in (a, b), f"killed {label}: neither the old data nor the backup"
            if event is not None and hit:
                assert now == b, f"killed {label}, before COMMIT: the old data must be untouched"
            if now == a:
                to_b(db)
            if hit:
                break
        outcomes.append(f"{label}: {'hit, ' if hit else 'missed, '}{'old' if now == b else 'new'}")
    # The events above each stopped a restore mid-way, before COMMIT.
    assert sum(line.startswith("in ") and "hit, old" in line for line in outcomes) == 3, outcomes
    # Nothing is left held or half-written: the next restore runs, and cleans up after it.
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 0, run.stderr
    assert snapshot(db) == a
    assert _leftovers(folder) == []
    watch.conn.close()


def _file_size_limit(limit: int) -> Callable[[], None]:
    """The child may write files of at most ``limit`` bytes: past that, a write fails
    (EFBIG, as ENOSPC would on a full disk) instead of killing it with SIGXFSZ."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_no_room_for_the_safety_backup_stops_before_anything_changes(
    cli: Cli, db: DatabaseTarget, states: tuple[Any, Any, Path]
) -> None:
    _, b, folder = states
    size = max(p.stat().st_size for p in folder.glob("*.sql.zst"))
    proc = _restore(db, folder, cli.workdir, preexec=_file_size_limit(size // 4))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err.decode()
    message = err.decode()
    assert message.count("\n") == 1 and "error:" in message, message
    assert "File too large" in message or "No space" in message, message
    assert snapshot(db) == b
    assert _leftovers(folder) == []  # the half-written safety backup was removed


def test_the_server_running_out_of_room_mid_load_rolls_back(
    cli: Cli, db: DatabaseTarget, app_server: Any, states: tuple[Any, Any, Path]
) -> None:
    """A server that cannot get more disk fails the load (here: the index build's sort
    exceeds temp_file_limit, as it would a full disk): rolled back, nothing changed."""
    _, b, folder = states
    admin = app_server.admin_target("postgres").conninfo_params("lumidb tests")
    with psycopg.connect(autocommit=True, **admin) as conn:
        conn.execute(f"ALTER DATABASE \"{db.dbname}\" SET maintenance_work_mem = '1MB'")
        conn.execute(f"ALTER DATABASE \"{db.dbname}\" SET temp_file_limit = '64kB'")
        try:
            cli.use(db)
            cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
            run = cli("restore-latest", "--yes", "--no-safety-backup")
        finally:
            conn.execute(f'ALTER DATABASE "{db.dbname}" RESET ALL')
    assert run.exit_code == 1, run.stderr
    assert "temp_file_limit" in run.stderr and "nothing changed" in run.stderr
    assert snapshot(db) == b


def test_the_server_stopping_mid_load_leaves_the_old_data(cli: Cli, tmp_path: Path) -> None:
    with Pg18TestServer() as server:
        server.create_role(APP_ROLE, APP_PASSWORD)
        server.create_database("lumiai", owner=APP_ROLE)
        target = app_target(server, "lumiai")
        cli.use(target)
        assert cli("migrate", "deploy").exit_code == 0
        seed(target, users=USERS)
        folder = cli.workdir / "backups"
        backup(target, folder)
        to_b(target)
        b = snapshot(target)
        watch = Watch(server, "lumiai")
        holder = psycopg.connect(**server.admin_target("lumiai").conninfo_params("holder"))
        assert sql(target, "SELECT to_regclass('lumidb.environment') IS NOT NULL") == [(True,)]
        proc = _restore(target, folder, cli.workdir, "--no-safety-backup")
        try:
            assert watch.wait_for(LOAD_COPY, proc), "the restore ended before its COPY was seen"
            # The checks before COMMIT read the environment record: holding it keeps the
            # load from committing, however fast the machine, until the server goes.
            holder.execute("LOCK TABLE lumidb.environment IN ACCESS EXCLUSIVE MODE")
            assert proc.poll() is None, "the restore ended before the lock was taken"
            watch.conn.close()
            server.crash()
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        holder.close()
        assert proc.returncode == 1, err.decode()
        assert "nothing changed" in err.decode() or "rolled back" in err.decode(), err.decode()
        server.start_again()
        assert snapshot(target) == b
        cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
        run = cli("restore-latest", "--yes")  # and the next run works
        assert run.exit_code == 0, run.stderr


def test_a_client_with_prepared_statements_reads_the_restored_rows(
    cli: Cli, db: DatabaseTarget, states: tuple[Any, Any, Path]
) -> None:
    """As Prisma does: one connection, statements prepared before the restore, used after."""
    _, _, folder = states
    by_id = "SELECT name FROM users WHERE id = %s"
    count = "SELECT count(*) FROM users"
    with psycopg.connect(autocommit=True, **db.conninfo_params("prisma-like")) as app:
        for _ in range(6):  # psycopg prepares a statement on the server after 5 uses
            assert app.execute(by_id, ("u2",), prepare=True).fetchone() == ("changed",)
            assert app.execute(count, prepare=True).fetchone() == (USERS + 2,)
        prepared = app.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert prepared is not None and prepared[0] >= 2
        cli.use(db)
        cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
        run = cli("restore-latest", "--yes")
        assert run.exit_code == 0, run.stderr
        assert app.execute(by_id, ("u2",), prepare=True).fetchone() == ("name 2",)
        assert app.execute(count, prepare=True).fetchone() == (USERS + 2,)
        assert app.execute(by_id, ("u1",), prepare=True).fetchone() == ("name 1",)
