"""reset: drop, migrate, seed in one transaction; never on production; with an undo."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import LUMIDB, Cli, clean_env, url_of

from lumidb.connection import DatabaseTarget
from lumidb.reset import is_local_host


def sql(target: DatabaseTarget, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def add_user(target: DatabaseTarget, email: str = "kept@x.test") -> None:
    sql(
        target,
        'INSERT INTO users (id, email, password, "updatedAt") VALUES (%s, %s, %s, now())',
        (email, email, "h"),
    )


def emails(target: DatabaseTarget) -> list[str]:
    return [r[0] for r in sql(target, "SELECT email FROM users ORDER BY email")]


def test_local_hosts() -> None:
    assert all(is_local_host(h) for h in ("localhost", "127.0.0.1", "127.8.0.1", "::1", "/tmp", ""))
    assert not any(is_local_host(h) for h in ("postgres", "10.0.0.5", "db.example.com"))


def test_reset_rebuilds_seeds_and_can_be_undone(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_PASSWORD", "Reset-admin-pw-1")
    add_user(db)
    sql(db, "CREATE TABLE extra (x int)")
    sql(db, "CREATE SCHEMA IF NOT EXISTS lumidb")
    sql(db, "CREATE TABLE lumidb.keepme (x int)")
    result = cli("reset", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["kind"] == "reset_result" and doc["current"]
    assert emails(db) == ["admin@lumiai.com"]
    assert sql(db, "SELECT to_regclass('public.extra')") == [(None,)]
    assert sql(db, "SELECT to_regclass('lumidb.keepme')::text") == [("lumidb.keepme",)]
    assert doc["undo_command"].startswith("lumidb restore-latest --file ")
    safety = Path(doc["safety_backup"])
    assert safety.parent.name == "safety" and safety.exists()
    undo = cli("restore-latest", "--yes", "--file", str(safety))
    assert undo.exit_code == 0, undo.stderr
    assert emails(db) == ["kept@x.test"]


def test_dry_run_shows_plan_and_changes_nothing(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    add_user(db)
    result = cli("reset", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "DROP TABLE IF EXISTS public.users CASCADE;" in result.stdout
    assert "users: 1" in result.stdout and "127.0.0.1" in result.stdout
    assert emails(db) == ["kept@x.test"]
    assert not (cli.workdir / "backups").exists()


def test_no_terminal_without_yes_refuses(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    add_user(db)
    result = cli("reset")
    assert result.exit_code == 3 and "--yes" in result.stderr
    assert emails(db) == ["kept@x.test"]


def test_declined_changes_nothing(db: DatabaseTarget, tmp_path: Path) -> None:
    """At a terminal, answering no leaves the database and takes no backup."""
    import pty

    add_user(db)
    env = clean_env(DATABASE_URL=url_of(db), LUMIDB_BACKUP_DIR=str(tmp_path / "b"))
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.execve(LUMIDB, [LUMIDB, "reset", "--no-safety-backup"], env)  # noqa: S606
    out = b""
    deadline = time.monotonic() + 60
    while b"rebuild it?" not in out and time.monotonic() < deadline:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
    os.write(fd, b"n\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3, out.decode(errors="replace")
    assert b"declined" in out
    assert emails(db) == ["kept@x.test"]


@pytest.mark.parametrize(
    ("settings"),
    [
        {"NODE_ENV": "production", "LUMIDB_ENV": "development"},
        {"LUMIDB_ENV": "production"},
        {"NODE_ENV": "qa"},
    ],
)
def test_production_by_environment_refused(
    cli: Cli, db: DatabaseTarget, settings: dict[str, str]
) -> None:
    cli.use(db)
    add_user(db)
    for name, value in settings.items():
        cli.setenv(name, value)
    result = cli("reset", "--yes")
    assert result.exit_code == 3, result.stderr
    assert "development and test databases only" in result.stderr
    assert emails(db) == ["kept@x.test"]


def test_recorded_production_refused_with_dev_shell(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("NODE_ENV", "production")
    assert cli("migrate", "deploy").exit_code == 0
    cli.setenv("NODE_ENV", "development")
    add_user(db)
    result = cli("reset", "--yes", "--no-safety-backup")
    assert result.exit_code == 3 and "recorded as production" in result.stderr
    assert emails(db) == ["kept@x.test"]


def test_remote_host_needs_allow_remote(cli: Cli, db: DatabaseTarget) -> None:
    from dataclasses import replace

    remote = replace(db, host="localhost.invalid")
    cli.use(remote)
    result = cli("reset", "--yes")
    assert result.exit_code == 3 and "--allow-remote" in result.stderr


def test_lock_held_by_another_run_refuses(cli: Cli, db: DatabaseTarget) -> None:
    from lumidb.locks import LOCK_CLASS, LOCK_ID

    cli.use(db)
    cli.setenv("LUMIDB_LOCK_TIMEOUT", "0.5")
    add_user(db)
    params = db.conninfo_params("lumidb migrate deploy")
    with psycopg.connect(autocommit=True, **params) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_ID))
        result = cli("reset", "--yes", "--no-safety-backup")
    assert result.exit_code == 3 and "lumidb migrate deploy" in result.stderr
    assert emails(db) == ["kept@x.test"]


def test_app_connections_named_and_terminated(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    add_user(db)
    cli.setenv("LUMIDB_RESTORE_LOCK_TIMEOUT", "1")
    app = psycopg.connect(**db.conninfo_params("nest-api"))
    try:
        app.execute("SELECT count(*) FROM users").fetchone()  # holds a lock: idle in transaction
        plan = cli("reset", "--dry-run")
        assert "'nest-api'" in plan.stdout
        blocked = cli("reset", "--yes", "--no-safety-backup")
        assert blocked.exit_code == 1 and "nest-api" in blocked.stderr
        assert "--terminate-connections" in blocked.stderr
        assert emails(db) == ["kept@x.test"]
        done = cli("reset", "--yes", "--no-safety-backup", "--terminate-connections")
        assert done.exit_code == 0, done.stderr
        assert "nest-api" in done.stdout + done.stderr
    finally:
        app.close()
    assert emails(db) == ["admin@lumiai.com"]


def test_failing_seed_rolls_everything_back(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    add_user(db)
    cli.setenv("LUMIDB_ADMIN_EMAIL", "not-an-email")
    result = cli("reset", "--yes", "--no-safety-backup")
    assert result.exit_code == 2, result.stderr
    assert emails(db) == ["kept@x.test"]


def test_no_seed_and_grants_reapplied(cli: Cli, db: DatabaseTarget, app_server: Any) -> None:
    if not sql(app_server.admin_target(), "SELECT 1 FROM pg_roles WHERE rolname = 'reporting'"):
        app_server.create_role("reporting", "reporting-pw-1")
    sql(db, "GRANT SELECT ON users TO reporting")
    cli.use(db)
    result = cli("reset", "--yes", "--no-seed", "--no-safety-backup")
    assert result.exit_code == 0, result.stderr
    assert emails(db) == []
    assert sql(db, "SELECT has_table_privilege('reporting', 'public.users', 'SELECT')") == [(True,)]


def test_killed_midway_leaves_old_or_new(db: DatabaseTarget, tmp_path: Path) -> None:
    """SIGKILL at several points: the database is either untouched or fully reset."""
    add_user(db)
    env = clean_env(DATABASE_URL=url_of(db))
    for delay in (0.3, 0.6, 0.9, 1.2, 1.6):
        proc = subprocess.Popen(
            [LUMIDB, "reset", "--yes", "--no-safety-backup"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.2)
        state = emails(db)
        assert state in (["kept@x.test"], ["admin@lumiai.com"]), state
        products = sql(db, "SELECT count(*) FROM products")[0][0]
        assert (state == ["kept@x.test"] and products == 0) or products >= 30
        if state != ["kept@x.test"]:
            sql(db, "DELETE FROM products")
            sql(db, "DELETE FROM users")
            add_user(db)


@pytest.mark.pg15
def test_reset_on_pg15_over_tls(cli: Cli, pg15: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    from conftest import APP_PASSWORD

    from lumidb import migrations
    from lumidb.config import Environment

    role, name = "lumiai", "reset_pg15"
    if not sql(pg15.admin_target(), "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
        pg15.create_role(role, APP_PASSWORD)
    pg15.create_database(name, owner=role)
    try:
        target = replace(
            pg15.admin_target(name, sslmode="require"), user=role, password=APP_PASSWORD
        )
        migrations.deploy(target, environment=Environment.DEVELOPMENT, lock_timeout=10)
        add_user(target)
        cli.use(target)
        result = cli("reset", "--yes")
        assert result.exit_code == 0, result.stderr
        assert emails(target) == ["admin@lumiai.com"]
    finally:
        pg15.drop_database(name)
