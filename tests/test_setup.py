"""setup: day one in one command; seeds only when it created the tables; concurrency-safe."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
from conftest import LUMIDB, Cli, clean_env, url_of

from lumidb.connection import DatabaseTarget


def sql(target: DatabaseTarget, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def test_setup_on_empty_database_migrates_and_seeds_once(
    cli: Cli, empty_db: DatabaseTarget
) -> None:
    cli.use(empty_db)
    first = cli("setup")
    assert first.exit_code == 0, first.stderr
    assert "admin: admin@lumiai.com" in first.stdout
    assert "LUMIDB_ADMIN_PASSWORD=... lumidb seed --refresh" in first.stdout
    assert sql(empty_db, "SELECT count(*) FROM products")[0][0] >= 30
    sql(empty_db, "DELETE FROM products WHERE sku = 'LM-LIP-WRM-01'")
    again = cli("setup", "--json")
    assert again.exit_code == 0, again.stderr
    doc = again.json()
    assert doc["kind"] == "setup_result" and doc["seed"] is None and doc["applied"] == []
    assert sql(empty_db, "SELECT count(*) FROM products WHERE sku = 'LM-LIP-WRM-01'") == [(0,)]


def test_setup_never_seeds_existing_tables(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    result = cli("setup")
    assert result.exit_code == 0, result.stderr
    assert "tables already existed" in result.stdout
    assert sql(db, "SELECT count(*) FROM users") == [(0,)]


def test_setup_on_production_only_deploys(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    cli.setenv("NODE_ENV", "production")
    result = cli("setup")
    assert result.exit_code == 0, result.stderr
    assert "never seeded" in result.stdout
    assert sql(empty_db, "SELECT count(*) FROM users") == [(0,)]
    assert sql(empty_db, "SELECT environment FROM lumidb.environment") == [("production",)]


def test_setup_refuses_unadopted_prisma_database(cli: Cli, empty_db: DatabaseTarget) -> None:
    sql(empty_db, "CREATE TABLE _prisma_migrations (id text)")
    sql(empty_db, "CREATE TABLE users (id text)")
    cli.use(empty_db)
    result = cli("setup")
    assert result.exit_code == 3 and "lumidb migrate adopt" in result.stderr


def test_two_concurrent_setups_seed_once(empty_db: DatabaseTarget, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=url_of(empty_db), LUMIDB_ADMIN_PASSWORD="Two-setups-pw-1")
    procs = [
        subprocess.Popen(
            [LUMIDB, "setup", "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    docs = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        import json

        docs.append(json.loads(out))
    assert sorted(d["seed"] is not None for d in docs) == [False, True]
    assert sql(empty_db, "SELECT count(*) FROM users") == [(1,)]
    assert "Two-setups-pw-1" not in json.dumps(docs)
