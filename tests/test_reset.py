"""``lumidb reset``: development and test only, one transaction, undo-able, grants kept."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import LUMIDB, Cli, clean_env, url_of

from lumidb.connection import DatabaseTarget
from lumidb.seed import load_catalogue


def sql(target: DatabaseTarget, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        cur = conn.execute(statement)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def add_data(target: DatabaseTarget) -> None:
    sql(
        target,
        """INSERT INTO users (id, email, password, "updatedAt")
        SELECT 'u' || g, 'u' || g || '@x.test', 'h', now() FROM generate_series(1, 50) g""",
    )
    sql(target, "CREATE TABLE scratch_notes (id int)")  # not from a migration: reset drops it


def snapshot(target: DatabaseTarget) -> list[tuple[Any, ...]]:
    return sql(
        target,
        """SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products),
                  to_regclass('public.scratch_notes') IS NOT NULL""",
    )


def test_reset_rebuilds_seeds_keeps_the_record_and_grants_and_can_be_undone(
    cli: Cli, db: DatabaseTarget, app_server: Any
) -> None:
    add_data(db)
    cli.use(db)
    assert cli("migrate", "deploy").exit_code == 0  # writes the environment record
    record = sql(db, "SELECT environment, recorded_by FROM lumidb.environment")
    app_server.create_role("reset_reader", "reader-pw-1")
    sql(db, "GRANT SELECT ON users TO reset_reader")
    run = cli("reset", "--yes", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert doc["kind"] == "reset_result" and doc["revision"] == "0001"
    assert doc["seeded"]["created"] == 1 + len(load_catalogue())
    assert snapshot(db) == [(1, len(load_catalogue()), False)]
    assert sql(db, "SELECT environment, recorded_by FROM lumidb.environment") == record
    assert sql(db, "SELECT has_table_privilege('reset_reader', 'public.users', 'SELECT')") == [
        (True,)
    ]
    safety = Path(doc["safety_backup"])
    assert safety.parent.name == "safety" and safety.exists()
    undo = cli("restore-latest", "--file", str(safety), "--yes", "--no-safety-backup")
    assert undo.exit_code == 0, undo.stderr
    assert snapshot(db) == [(50, 0, True)]


def test_dry_run_and_no_terminal(cli: Cli, db: DatabaseTarget) -> None:
    add_data(db)
    cli.use(db)
    dry = cli("reset", "--dry-run")
    assert dry.exit_code == 0 and "drops" in dry.stdout and "TABLE public.users" in dry.stdout
    assert "50 rows" in dry.stdout or "50" in dry.stdout
    asked = cli("reset")
    assert asked.exit_code == 3 and "--yes" in asked.stderr
    assert snapshot(db) == [(50, 0, True)]
    assert not (cli.workdir / "backups" / "safety").exists()


@pytest.mark.parametrize(
    "environment",
    [{"NODE_ENV": "production"}, {"LUMIDB_ENV": "production"}, {"NODE_ENV": "staging"}],
)
def test_reset_refuses_production_with_no_override(
    cli: Cli, db: DatabaseTarget, environment: dict[str, str]
) -> None:
    add_data(db)
    cli.use(db)
    for name, value in environment.items():
        cli.setenv(name, value)
    run = cli("reset", "--yes")
    assert run.exit_code == 3 and "production" in run.stderr and "no override" in run.stderr
    assert snapshot(db) == [(50, 0, True)]


def test_a_production_record_refuses_a_development_shell(cli: Cli, db: DatabaseTarget) -> None:
    add_data(db)
    cli.use(db)
    cli.setenv("NODE_ENV", "production")
    assert cli("migrate", "deploy").exit_code == 0
    cli.setenv("NODE_ENV", "development")
    run = cli("reset", "--yes", "--dry-run")
    assert run.exit_code == 3 and "recorded as production" in run.stderr
    assert snapshot(db) == [(50, 0, True)]


def test_a_remote_host_needs_allow_remote(cli: Cli, db: DatabaseTarget) -> None:
    from dataclasses import replace

    remote = replace(db, host="postgres.invalid")
    cli.use(remote)
    run = cli("reset", "--yes")
    assert run.exit_code == 3 and "--allow-remote" in run.stderr
    tried = cli("reset", "--yes", "--allow-remote")
    assert tried.exit_code == 1  # it tried to connect, and could not


def test_a_held_table_lock_rolls_everything_back(cli: Cli, db: DatabaseTarget) -> None:
    add_data(db)
    cli.use(db)
    cli.setenv("LUMIDB_RESTORE_LOCK_TIMEOUT", "1")
    with psycopg.connect(**db.conninfo_params()) as holder:
        holder.execute("SET application_name = 'lumiai-api'")
        holder.execute("SELECT count(*) FROM users")  # an open transaction reading users
        run = cli("reset", "--yes", "--no-safety-backup")
    assert run.exit_code == 1 and "rolled back; nothing changed" in run.stderr
    assert "lumiai-api" in run.stderr
    assert snapshot(db) == [(50, 0, True)]


def test_reset_waits_for_another_lumidb_run(cli: Cli, db: DatabaseTarget) -> None:
    from lumidb.locks import database_lock

    cli.use(db)
    cli.setenv("LUMIDB_LOCK_TIMEOUT", "0.5")
    with database_lock(db, "restore-latest", timeout=5):
        run = cli("reset", "--yes", "--no-safety-backup")
    assert run.exit_code == 3 and "lumidb restore-latest" in run.stderr


def test_a_killed_reset_leaves_the_old_database(tmp_path: Path, db: DatabaseTarget) -> None:
    add_data(db)
    env = clean_env(DATABASE_URL=url_of(db))
    with psycopg.connect(**db.conninfo_params()) as holder:
        holder.execute("SELECT count(*) FROM users")  # users is dropped last: reset waits there
        proc = subprocess.Popen(
            [LUMIDB, "reset", "--yes", "--no-safety-backup"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                waiting = sql(
                    db,
                    """SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lumidb reset'
                       AND wait_event_type = 'Lock'""",
                )
                if waiting == [(1,)]:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("reset never reached the locked table")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert snapshot(db) == [(50, 0, True)]


def test_reset_works_for_an_owner_that_cannot_create_databases(
    cli: Cli, db: DatabaseTarget, app_server: Any
) -> None:
    add_data(db)
    cli.use(db)
    admin = app_server.admin_target()
    with psycopg.connect(autocommit=True, **admin.conninfo_params()) as conn:
        conn.execute("ALTER ROLE lumiai NOCREATEDB")
        try:
            run = cli("reset", "--yes", "--no-seed")
        finally:
            conn.execute("ALTER ROLE lumiai CREATEDB")
    assert run.exit_code == 0, run.stderr
    assert snapshot(db) == [(0, 0, False)]


@pytest.mark.pg15
def test_setup_seed_and_reset_on_pg15_over_tls(cli: Cli, pg15: Any) -> None:
    import contextlib
    import os
    from dataclasses import replace

    role, password = "reset_tls", "tls-Reset-pw-8K"
    with contextlib.suppress(psycopg.errors.DuplicateObject):
        pg15.create_role(role, password)
    name = f"rs_{os.getpid()}"
    pg15.create_database(name, owner=role)
    try:
        target = replace(pg15.admin_target(name, sslmode="require"), user=role, password=password)
        cli.use(target)
        setup = cli("setup", "--json")
        assert setup.exit_code == 0, setup.stderr
        assert setup.json()["seeded"]["created"] == 1 + len(load_catalogue())
        assert cli("seed", "--json").json()["created"] == 0
        sql(target, "DELETE FROM products WHERE sku LIKE 'LUMI-LIP-%'")
        # 127.0.0.1 is this machine; the safety backup uses the Debian 15 clients (TLS)
        run = cli("reset", "--yes", "--json")
        assert run.exit_code == 0, run.stderr
        assert snapshot(target) == [(1, len(load_catalogue()), False)]
        assert password not in setup.stdout + setup.stderr + run.stdout + run.stderr
    finally:
        pg15.drop_database(name)


def test_terminate_connections_ends_the_applications_sessions(cli: Cli, db: DatabaseTarget) -> None:
    add_data(db)
    cli.use(db)
    cli.setenv("LUMIDB_RESTORE_LOCK_TIMEOUT", "1")
    app = psycopg.connect(**db.conninfo_params("nest-api"))
    try:
        app.execute("SELECT count(*) FROM users").fetchone()  # idle in transaction
        plan = cli("reset", "--dry-run")
        assert plan.exit_code == 0 and "nest-api" in plan.stdout + plan.stderr
        done = cli("reset", "--yes", "--no-safety-backup", "--terminate-connections")
        assert done.exit_code == 0, done.stderr
        assert "nest-api" in done.stdout + done.stderr
    finally:
        app.close()
    assert snapshot(db)[0][0] == 1 and snapshot(db)[0][2] is False


def test_declined_at_a_terminal_changes_nothing(db: DatabaseTarget, tmp_path: Path) -> None:
    import os
    import pty

    add_data(db)
    env = clean_env(DATABASE_URL=url_of(db), LUMIDB_BACKUP_DIR=str(tmp_path / "b"))
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.execve(LUMIDB, [LUMIDB, "reset", "--no-safety-backup"], env)  # noqa: S606
    out = b""
    deadline = time.monotonic() + 60
    while b"[y/n]" not in out.lower() and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
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
    assert snapshot(db) == [(50, 0, True)]


# --- found by an attacker's review ---------------------------------------------------


def test_hostaddr_cannot_sneak_a_remote_server_past_the_local_check(
    cli: Cli, db: DatabaseTarget
) -> None:
    from dataclasses import replace

    sneaky = replace(db, host="localhost", params=(("hostaddr", "192.0.2.2"),))
    cli.use(sneaky)
    run = cli("reset", "--yes", "--no-safety-backup")
    assert run.exit_code == 3 and "192.0.2.2 is not this machine" in run.stderr


def test_reset_never_drops_objects_of_other_schemas(cli: Cli, db: DatabaseTarget) -> None:
    add_data(db)
    sql(db, "CREATE SCHEMA reporting; CREATE VIEW reporting.v AS SELECT id FROM public.users")
    cli.use(db)
    run = cli("reset", "--yes", "--no-safety-backup")
    assert run.exit_code == 1 and "rolled back; nothing changed" in run.stderr
    assert "reporting" in run.stderr
    assert sql(db, "SELECT to_regclass('reporting.v') IS NOT NULL") == [(True,)]
    assert snapshot(db) == [(50, 0, True)]


def test_a_bad_admin_email_stops_reset_before_its_safety_backup(
    cli: Cli, db: DatabaseTarget
) -> None:
    add_data(db)
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_EMAIL", "not-an-email")
    run = cli("reset", "--yes")
    assert run.exit_code == 2 and "LUMIDB_ADMIN_EMAIL" in run.stderr
    assert not (cli.workdir / "backups" / "safety").exists()
    assert snapshot(db) == [(50, 0, True)]


def test_the_lumidb_schema_is_never_the_applications(cli: Cli, db: DatabaseTarget) -> None:
    from dataclasses import replace

    cli.use(replace(db, schema="lumidb"))
    for args in (("setup",), ("seed",), ("backup",), ("purge", "--yes"), ("inactive",)):
        run = cli(*args)
        assert run.exit_code == 2 and "schema=lumidb" in run.stderr, args
