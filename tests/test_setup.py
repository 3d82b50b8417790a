"""``lumidb setup``: deploy, and seed only a database whose tables this run created."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
from conftest import LUMIDB, Cli, clean_env, url_of
from test_migrations import make_prisma_database

from lumidb.connection import DatabaseTarget
from lumidb.seed import load_catalogue


def count(target: DatabaseTarget, table: str) -> Any:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def test_setup_on_a_new_database_deploys_and_seeds_once(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    first = cli("setup", "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert doc["kind"] == "setup_result" and doc["applied"] == ["0001"]
    assert doc["seeded"]["created"] == 1 + len(load_catalogue())
    assert count(empty_db, "products") == len(load_catalogue())
    second = cli("setup", "--json").json()
    assert second["applied"] == [] and second["seeded"] is None
    assert "already there" in second["seed_skipped"]
    assert count(empty_db, "users") == 1


def test_setup_never_seeds_a_database_that_had_its_tables(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)  # migrated already, by another tool or an earlier deploy
    run = cli("setup")
    assert run.exit_code == 0 and "not seeded" in run.stdout
    assert count(db, "products") == 0


def test_setup_on_production_only_deploys(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    cli.setenv("NODE_ENV", "production")
    doc = cli("setup", "--json").json()
    assert doc["applied"] == ["0001"] and doc["seeded"] is None
    assert doc["environment"] == "PRODUCTION" and "production" in doc["seed_skipped"]
    assert count(empty_db, "users") == 0


def test_setup_refuses_an_unadopted_prisma_database(cli: Cli, empty_db: DatabaseTarget) -> None:
    make_prisma_database(empty_db)
    cli.use(empty_db)
    run = cli("setup")
    assert run.exit_code == 3 and "lumidb migrate adopt" in run.stderr
    assert count(empty_db, "products") == 0


def test_two_setups_at_once_seed_once(tmp_path: Path, empty_db: DatabaseTarget) -> None:
    env = clean_env(DATABASE_URL=url_of(empty_db))
    procs = [
        subprocess.Popen(
            [LUMIDB, "setup", "--json"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert count(empty_db, "users") == 1
    assert count(empty_db, "products") == len(load_catalogue())
    assert sum('"seed_skipped": null' in out for out, _ in outputs) == 1


def test_a_bad_admin_email_fails_setup_before_any_table_is_made(
    cli: Cli, empty_db: DatabaseTarget
) -> None:
    cli.use(empty_db)
    cli.setenv("LUMIDB_ADMIN_EMAIL", "not-an-email")
    run = cli("setup")
    assert run.exit_code == 2 and "LUMIDB_ADMIN_EMAIL" in run.stderr
    with psycopg.connect(autocommit=True, **empty_db.conninfo_params()) as conn:
        assert conn.execute("SELECT to_regclass('public.users')").fetchone() == (None,)
    cli.setenv("LUMIDB_ADMIN_EMAIL", "admin@lumiai.com")
    again = cli("setup", "--json")
    assert again.exit_code == 0 and again.json()["seeded"] is not None


def test_soft_delete_commands_on_an_unmigrated_database_say_what_to_run(
    cli: Cli, empty_db: DatabaseTarget
) -> None:
    cli.use(empty_db)
    for args in (("inactive",), ("purge", "--yes"), ("restore-inactive", "--yes")):
        run = cli(*args, "--json")
        assert run.exit_code == 2 and "lumidb migrate deploy" in run.stderr, args
        assert run.json()["kind"] == "error"
