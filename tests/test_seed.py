"""seed: the admin and the shipped catalogue, against the real servers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import bcrypt
import psycopg
import pytest
from conftest import Cli

from lumidb.connection import DatabaseTarget
from lumidb.errors import UsageError
from lumidb.seed import load_catalogue, seed

NOW = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def sql(target: DatabaseTarget, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def contents(target: DatabaseTarget) -> list[Any]:
    return [
        sql(target, "SELECT * FROM users ORDER BY email"),
        sql(target, "SELECT * FROM products ORDER BY sku"),
    ]


def test_catalogue_meets_the_rules() -> None:
    products = load_catalogue()
    assert len(products) >= 30
    makeup = [p for p in products if p.category == "MAKEUP"]
    skincare = [p for p in products if p.category == "SKINCARE"]
    assert {p.type for p in makeup} == {
        "lipstick",
        "foundation",
        "blush",
        "eyeshadow",
        "mascara",
        "highlighter",
    }
    assert {p.type for p in skincare} == {
        "moisturizer",
        "cleanser",
        "serum",
        "sunscreen",
        "mask",
        "toner",
    }
    assert {p.shade for p in makeup} == {"WARM", "COOL", "NEUTRAL"}
    assert {p.skin_type for p in skincare} == {"DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE"}
    assert all(p.price > 0 and p.images for p in products)


def test_invalid_catalogue_entry_is_named() -> None:
    bad = """
[[products]]
sku = "LM-BAD-01"
name = "Broken Lipstick"
category = "MAKEUP"
type = "lipstick"
skinType = "DRY"
description = "A lipstick with a skin type."
detail = "Should have been a shade instead."
price = "10.00"
stock = 1
ratingAvg = 4.0
ratingCount = 1
imageUrl = "https://x.test/a.jpg"
images = ["https://x.test/a.jpg"]
"""
    with pytest.raises(UsageError, match=r"entry 1 \(LM-BAD-01\) is invalid"):
        load_catalogue(bad)
    with pytest.raises(UsageError, match=r"entry 1 \(LM-X\).*price"):
        load_catalogue(bad.replace("LM-BAD-01", "LM-X").replace('"10.00"', '"-5"'))


def test_seed_twice_gives_identical_contents_and_password_verifies(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_PASSWORD", "Chosen-Admin-pw-42")
    first = cli("seed", "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert doc["kind"] == "seed_result" and doc["admin_status"] == "created"
    assert doc["products_created"] >= 30 and doc["generated_password"] is None
    before = contents(db)
    second = cli("seed")
    assert second.exit_code == 0, second.stderr
    assert "0 created, 0 refreshed, 35 already there" in second.stdout
    assert contents(db) == before
    [(password, role, updated)] = sql(
        db,
        'SELECT password, role::text, "updatedAt" FROM users WHERE email = %s',
        ("admin@lumiai.com",),
    )
    assert password.startswith("$2b$10$") and role == "ADMIN"
    assert updated == updated.replace(microsecond=updated.microsecond // 1000 * 1000)
    assert bcrypt.checkpw(b"Chosen-Admin-pw-42", password.encode())
    assert "Chosen-Admin-pw-42" not in first.stdout + first.stderr + second.stdout + second.stderr
    ids = sql(db, "SELECT id FROM products UNION ALL SELECT id FROM users")
    import uuid

    assert all(uuid.UUID(i).version == 4 for (i,) in ids)


def test_generated_password_shown_only_in_json(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_EMAIL", "ops@lumiai.test")
    plain = cli("seed")
    assert plain.exit_code == 0, plain.stderr
    assert "LUMIDB_ADMIN_PASSWORD=... lumidb seed --refresh" in plain.stdout
    [(stored,)] = sql(db, "SELECT password FROM users WHERE email = 'ops@lumiai.test'")
    sql(db, "DELETE FROM users")
    shown = cli("seed", "--json").json()["generated_password"]
    assert shown and len(shown) >= 20
    [(stored,)] = sql(db, "SELECT password FROM users WHERE email = 'ops@lumiai.test'")
    assert bcrypt.checkpw(shown.encode(), stored.encode())


def test_seed_leaves_changed_rows_and_refresh_resets_them(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_PASSWORD", "First-pw-123456")
    assert cli("seed").exit_code == 0
    sql(db, "UPDATE products SET stock = 0 WHERE sku = 'LM-LIP-WRM-01'")
    assert cli("seed").exit_code == 0
    assert sql(db, "SELECT stock FROM products WHERE sku = 'LM-LIP-WRM-01'") == [(0,)]
    cli.setenv("LUMIDB_ADMIN_PASSWORD", "Second-pw-654321")
    result = cli("seed", "--refresh", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["products_refreshed"] >= 30
    assert sql(db, "SELECT stock FROM products WHERE sku = 'LM-LIP-WRM-01'") == [(140,)]
    [(password,)] = sql(db, "SELECT password FROM users WHERE email = 'admin@lumiai.com'")
    assert bcrypt.checkpw(b"Second-pw-654321", password.encode())


def test_seed_on_unmigrated_database_names_deploy(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    result = cli("seed")
    assert result.exit_code == 2
    assert "lumidb migrate deploy" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NODE_ENV", "production"), ("LUMIDB_ENV", "production"), ("NODE_ENV", "staging")],
)
def test_seed_refuses_production_by_environment(
    cli: Cli, db: DatabaseTarget, variable: str, value: str
) -> None:
    cli.use(db)
    cli.setenv(variable, value)
    if variable == "NODE_ENV":
        cli.setenv("LUMIDB_ENV", "development")  # checked independently: still production
    result = cli("seed")
    assert result.exit_code == 3, result.stderr
    assert "--allow-production" in result.stderr
    assert sql(db, "SELECT count(*) FROM products") == [(0,)]


def test_seed_on_recorded_production_with_dev_shell(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ENV", "production")
    assert cli("migrate", "deploy").exit_code == 0
    cli.setenv("LUMIDB_ENV", "development")
    refused = cli("seed")
    assert refused.exit_code == 3 and "recorded as production" in refused.stderr
    no_terminal = cli("seed", "--allow-production")
    assert no_terminal.exit_code == 3 and "--yes" in no_terminal.stderr
    assert sql(db, "SELECT count(*) FROM products") == [(0,)]
    allowed = cli("seed", "--allow-production", "--yes")
    assert allowed.exit_code == 0, allowed.stderr
    assert sql(db, "SELECT count(*) FROM products")[0][0] >= 30


def test_unknown_lumidb_env_is_a_usage_error(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ENV", "staging")
    result = cli("seed")
    assert result.exit_code == 2 and "LUMIDB_ENV" in result.stderr


def test_core_seed_is_idempotent(db: DatabaseTarget) -> None:
    first = seed(db, now=NOW, admin_email="a@b.test", admin_password="x-pw-1234567", lock_timeout=5)
    again = seed(db, now=NOW, admin_email="a@b.test", admin_password="x-pw-1234567", lock_timeout=5)
    assert first.products_created == again.products_existing >= 30
    [(updated,)] = sql(db, 'SELECT "updatedAt" FROM users')
    assert updated == datetime(2026, 11, 20, 8, 30)


@pytest.mark.pg15
def test_seed_on_pg15_over_tls(cli: Cli, pg15: Any) -> None:
    from dataclasses import replace

    from conftest import APP_PASSWORD

    from lumidb import migrations
    from lumidb.config import Environment

    role, name = "lumiai", "seed_pg15"
    if not sql(pg15.admin_target(), "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
        pg15.create_role(role, APP_PASSWORD)
    pg15.create_database(name, owner=role)
    try:
        target = replace(
            pg15.admin_target(name, sslmode="require"), user=role, password=APP_PASSWORD
        )
        migrations.deploy(target, environment=Environment.DEVELOPMENT, lock_timeout=10)
        cli.use(target)
        assert cli("seed").exit_code == 0
        assert cli("seed").exit_code == 0
        assert sql(target, "SELECT count(*) FROM products")[0][0] >= 30
    finally:
        pg15.drop_database(name)
