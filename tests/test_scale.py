"""seed --scale: synthetic data by COPY, deterministic, appending, never on production."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from conftest import Cli

from lumidb.config import Environment
from lumidb.connection import DatabaseTarget
from lumidb.scale import seed_scale

NOW = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def sql(target: DatabaseTarget, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


TABLES = ("users", "products", "orders", "order_items", "skin_analyses")


def dump(target: DatabaseTarget) -> list[Any]:
    return [sql(target, f"SELECT * FROM {t} ORDER BY id") for t in TABLES]


@pytest.mark.parametrize("value", ["0", "-5", "100000001", "99999999999999"])
def test_scale_out_of_range_is_usage_error(cli: Cli, db: DatabaseTarget, value: str) -> None:
    cli.use(db)
    result = cli("seed", "--scale", value)
    assert result.exit_code == 2, result.stderr
    assert "1 to 100,000,000" in result.stderr or "--scale" in result.stderr


def test_scale_refuses_production_without_override(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("NODE_ENV", "production")
    result = cli("seed", "--scale", "10", "--allow-production", "--yes")
    assert result.exit_code == 3
    assert sql(db, "SELECT count(*) FROM users") == [(0,)]


def test_scale_data_is_plausible_and_appends(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    assert cli("seed").exit_code == 0
    result = cli("seed", "--scale", "2000", "--random-seed", "7", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["kind"] == "scale_result" and doc["users"] == 2000
    assert sql(db, "SELECT count(*) FROM users")[0][0] == 2001
    [(orders, users_with)] = sql(db, 'SELECT count(*), count(DISTINCT "userId") FROM orders')
    assert 2.4 < orders / 2000 < 3.4 and orders == doc["orders"]
    assert 1700 < users_with < 2000
    inactive = sql(db, 'SELECT count(*) FROM users WHERE NOT "isActive"')[0][0]
    assert 140 < inactive < 260
    with_orders = sql(
        db,
        'SELECT count(*) FROM users u WHERE NOT u."isActive" '
        'AND EXISTS (SELECT 1 FROM orders o WHERE o."userId" = u.id)',
    )[0][0]
    assert 0 < with_orders < inactive
    assert (
        sql(
            db,
            'SELECT count(*) FROM products p WHERE NOT p."isActive" AND EXISTS '
            '(SELECT 1 FROM order_items i WHERE i."productId" = p.id)',
        )[0][0]
        > 0
    )
    [(hashes,)] = sql(db, "SELECT count(DISTINCT password) FROM users WHERE email LIKE 'u%%'")
    assert hashes == 1
    again = cli("seed", "--scale", "500", "--random-seed", "7", "--json")
    assert again.exit_code == 0, again.stderr
    assert sql(db, "SELECT count(*) FROM users")[0][0] == 2501
    assert sql(db, 'SELECT count(*) FROM users WHERE "updatedAt" < "createdAt"') == [(0,)]


def test_same_seed_gives_same_rows(db: DatabaseTarget, empty_db: DatabaseTarget) -> None:
    from lumidb import migrations

    migrations.deploy(empty_db, environment=Environment.DEVELOPMENT, lock_timeout=5)
    for target in (db, empty_db):
        seed_scale(
            target,
            count=300,
            random_seed=42,
            now=NOW,
            environment=Environment.DEVELOPMENT,
            lock_timeout=5,
        )
    first, second = dump(db), dump(empty_db)
    # the shared bcrypt hash is salted per run; everything else is identical
    strip = lambda rows: [tuple(v for i, v in enumerate(r) if i != 2) for r in rows]  # noqa: E731
    assert strip(first[0]) == strip(second[0])
    assert first[1:] == second[1:]
