"""``lumidb seed``: the admin and the catalogue, idempotent, never a known password."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import bcrypt
import psycopg
import pytest
from conftest import Cli

from lumidb.connection import DatabaseTarget
from lumidb.errors import UsageError
from lumidb.seed import CATALOGUE, MAKEUP_TYPES, SKIN_TYPES, SKINCARE_TYPES, TONES, load_catalogue


def rows(target: DatabaseTarget, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        return conn.execute(query, params).fetchall()


def contents(target: DatabaseTarget) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: rows(target, f"SELECT * FROM {table} ORDER BY id")
        for table in ("users", "products", "orders", "order_items", "skin_analyses")
    }


def test_the_catalogue_covers_every_type_tone_and_skin_type() -> None:
    products = load_catalogue()
    assert len(products) >= 30
    makeup = [p for p in products if p.category == "MAKEUP"]
    skincare = [p for p in products if p.category == "SKINCARE"]
    assert {p.type for p in makeup} == set(MAKEUP_TYPES)
    assert {p.type for p in skincare} == set(SKINCARE_TYPES)
    assert {p.shade for p in makeup} == set(TONES) and all(p.skin_type is None for p in makeup)
    assert {p.skin_type for p in skincare} == set(SKIN_TYPES)
    assert all(p.currency == "INR" and p.price > 0 and p.images for p in products)
    assert {p.badge for p in products} >= {"bestseller", "new", "limited"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('category = "MAKEUP"', 'category = "SHOES"', 1), "category"),
        (('shade = "WARM"', 'skin_type = "DRY"', 1), "makeup names the shade"),
        (('price = "699.00"', 'price = "-1"', 1), "price"),
        (("stock = ", "stocks = ", 1), "stock: Field required"),
    ],
)
def test_a_bad_catalogue_entry_is_named(
    tmp_path: Path, change: tuple[str, str, int], message: str
) -> None:
    bad = tmp_path / "catalogue.toml"
    bad.write_text(CATALOGUE.read_text().replace(*change))
    with pytest.raises(UsageError, match=r"product #1 \(LUMI-LIP-WARM-01\)") as caught:
        load_catalogue(bad)
    assert message in str(caught.value)


def test_seed_twice_is_idempotent_and_the_password_verifies(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_PASSWORD", "correct horse battery staple")
    first = cli("seed", "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert doc["kind"] == "seed_result" and doc["created"] == 1 + len(load_catalogue())
    assert doc["admin_password"] is None  # it was given, not generated
    before = contents(db)
    second = cli("seed", "--json")
    assert second.exit_code == 0 and second.json()["already_there"] == doc["created"]
    assert contents(db) == before
    [(user_id, stored, role, updated)] = rows(
        db, "SELECT id, password, role, \"updatedAt\" FROM users WHERE email = 'admin@lumiai.com'"
    )
    assert role == "ADMIN" and updated is not None
    assert re.match(r"^\$2b\$10\$", stored)
    assert bcrypt.checkpw(b"correct horse battery staple", stored.encode())
    assert uuid.UUID(user_id).version == 4
    assert all(uuid.UUID(pid).version == 4 for (pid,) in rows(db, "SELECT id FROM products"))
    assert "correct horse" not in first.stdout + first.stderr + second.stdout + second.stderr
    table = cli("seed")
    assert "already there" in table.stdout and "products" in table.stdout


def test_refresh_puts_the_samples_back_and_leaves_app_changes_otherwise(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    assert cli("seed").exit_code == 0
    rows(db, "UPDATE products SET stock = 1 WHERE sku = 'LUMI-LIP-WARM-01' RETURNING 1")
    assert cli("seed").exit_code == 0
    assert rows(db, "SELECT stock FROM products WHERE sku = 'LUMI-LIP-WARM-01'") == [(1,)]
    cli.setenv("LUMIDB_ADMIN_PASSWORD", "a-new-admin-password-9")
    run = cli("seed", "--refresh", "--json")
    assert run.exit_code == 0 and run.json()["refreshed"] == 1 + len(load_catalogue())
    shipped = next(p.stock for p in load_catalogue() if p.sku == "LUMI-LIP-WARM-01")
    assert rows(db, "SELECT stock FROM products WHERE sku = 'LUMI-LIP-WARM-01'") == [(shipped,)]
    [(stored,)] = rows(db, "SELECT password FROM users WHERE role = 'ADMIN'")
    assert bcrypt.checkpw(b"a-new-admin-password-9", stored.encode())


def test_a_generated_password_is_shown_only_in_json(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ADMIN_EMAIL", "owner@lumiai.in")
    plain = cli("seed")  # no terminal: not shown, and says how to set one
    assert plain.exit_code == 0
    assert "LUMIDB_ADMIN_PASSWORD=… lumidb seed --refresh" in plain.stdout
    [(stored,)] = rows(db, "SELECT password FROM users WHERE email = 'owner@lumiai.in'")
    assert stored.startswith("$2b$10$")
    cli.setenv("LUMIDB_ADMIN_EMAIL", "second@lumiai.in")
    doc = cli("seed", "--json").json()
    password = doc["admin_password"]
    assert isinstance(password, str) and len(password) >= 20
    [(stored,)] = rows(db, "SELECT password FROM users WHERE email = 'second@lumiai.in'")
    assert bcrypt.checkpw(password.encode(), stored.encode())


def test_seed_refuses_an_unmigrated_database(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    run = cli("seed")
    assert run.exit_code == 2 and "lumidb migrate deploy" in run.stderr


@pytest.mark.parametrize(
    "environment",
    [
        {"NODE_ENV": "production"},
        {"LUMIDB_ENV": "production"},
        {"LUMIDB_ENV": "development", "NODE_ENV": "production"},
        {"NODE_ENV": "staging"},
    ],
)
def test_seed_refuses_production_unless_allowed(
    cli: Cli, db: DatabaseTarget, environment: dict[str, str]
) -> None:
    cli.use(db)
    for name, value in environment.items():
        cli.setenv(name, value)
    run = cli("seed")
    assert run.exit_code == 3 and "production" in run.stderr and "--allow-production" in run.stderr
    assert rows(db, "SELECT count(*) FROM products") == [(0,)]
    no_terminal = cli("seed", "--allow-production")
    assert no_terminal.exit_code == 3 and "--yes" in no_terminal.stderr
    assert cli("seed", "--allow-production", "--yes").exit_code == 0
    assert rows(db, "SELECT count(*) FROM products") == [(len(load_catalogue()),)]


def test_a_production_record_wins_over_a_development_shell(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("NODE_ENV", "production")
    assert cli("migrate", "deploy").exit_code == 0
    cli.setenv("NODE_ENV", "development")
    run = cli("seed")
    assert run.exit_code == 3 and "recorded as production" in run.stderr


def test_an_unknown_lumidb_env_is_bad_usage(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ENV", "staging")
    run = cli("seed")
    assert run.exit_code == 2 and "LUMIDB_ENV='staging'" in run.stderr
    cli.setenv("LUMIDB_ENV", "test")
    cli.setenv("NODE_ENV", "qa")  # unknown NODE_ENV: guarded like production, not an error
    deploy = cli("migrate", "deploy")
    assert deploy.exit_code == 0, deploy.stderr
