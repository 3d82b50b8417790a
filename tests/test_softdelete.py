"""purge, restore-inactive and the inactive listing (the core) against real servers."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from conftest import APP_PASSWORD

from lumidb.config import Environment
from lumidb.connection import DatabaseTarget
from lumidb.errors import OperationError, RefusedError, UsageError
from lumidb.locks import database_lock
from lumidb.purge import PurgeOptions, plan_purge, purge
from lumidb.softdelete import (
    BatchProgress,
    Selection,
    list_inactive,
    plan_reactivate,
    reactivate,
)

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
NOW_DB = NOW.replace(tzinfo=None)
OLD = NOW_DB - timedelta(days=40)
RECENT = NOW_DB - timedelta(days=1)
SQL_EMAIL = "x'); DROP TABLE users; --@evil.test"
NO_BACKUP = PurgeOptions(safety_backup=False, environment=Environment.DEVELOPMENT)


def sql(target: DatabaseTarget, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def add_user(
    target: DatabaseTarget, uid: str, *, active: bool = True, at: datetime = OLD, email: str = ""
) -> None:
    sql(
        target,
        'INSERT INTO users (id, email, password, name, "isActive", "updatedAt") '
        "VALUES (%s, %s, '$2b$10$hash', 'Name ' || %s, %s, %s)",
        (uid, email or f"{uid}@x.test", uid, active, at),
    )


def add_product(
    target: DatabaseTarget, pid: str, *, active: bool = True, at: datetime = OLD
) -> None:
    sql(
        target,
        "INSERT INTO products (id, sku, name, category, type, description, detail, price, "
        "\"isActive\", \"updatedAt\") VALUES (%s, %s, %s, 'MAKEUP', 'lipstick', 'd', 'x', "
        "9.99, %s, %s)",
        (pid, f"SKU-{pid}", pid, active, at),
    )


def add_order(target: DatabaseTarget, oid: str, user: str, product: str) -> None:
    sql(
        target,
        'INSERT INTO orders (id, "orderNumber", "userId", subtotal, tax, shipping, total, '
        '"shippingAddress", "billingAddress", notes, "updatedAt") '
        "VALUES (%s, %s, %s, 10, 1, 2, 13, 'ship addr', 'bill addr', 'ring twice', %s)",
        (oid, f"N-{oid}", user, OLD),
    )
    sql(
        target,
        'INSERT INTO order_items (id, "orderId", "productId", name, sku, price, quantity, '
        "subtotal) VALUES (%s, %s, %s, 'n', 's', 10, 1, 10)",
        (f"i-{oid}", oid, product),
    )


def add_scan(target: DatabaseTarget, sid: str, user: str | None) -> None:
    sql(
        target,
        'INSERT INTO skin_analyses (id, "userId", tone, "skinType", "rgbR", "rgbG", "rgbB") '
        "VALUES (%s, %s, 'WARM', 'DRY', 1, 2, 3)",
        (sid, user),
    )


def build(target: DatabaseTarget) -> None:
    """Users and products in every state a purge must tell apart."""
    add_user(target, "u-active")
    add_user(target, "u-plain", active=False)  # no orders: deleted
    add_user(target, "u-orders", active=False)  # orders: anonymised
    add_user(target, "u-recent", active=False, at=RECENT)
    add_user(target, "u-sql", active=False, email=SQL_EMAIL)
    add_product(target, "p-active")
    add_product(target, "p-plain", active=False)  # deleted
    add_product(target, "p-ordered", active=False)  # in an order item: kept
    add_product(target, "p-recent", active=False, at=RECENT)
    add_order(target, "o1", "u-orders", "p-ordered")
    add_order(target, "o2", "u-active", "p-active")
    add_scan(target, "s-plain-1", "u-plain")
    add_scan(target, "s-plain-2", "u-plain")
    add_scan(target, "s-orders", "u-orders")
    add_scan(target, "s-active", "u-active")
    add_scan(target, "s-anon", None)


def table(target: DatabaseTarget, name: str) -> list[tuple[Any, ...]]:
    return sql(target, f"SELECT * FROM {name} ORDER BY id")


def ids(target: DatabaseTarget, name: str) -> set[str]:
    return {r[0] for r in sql(target, f"SELECT id FROM {name}")}


@pytest.fixture
def data(db: DatabaseTarget) -> DatabaseTarget:
    build(db)
    return db


# --- purge ---------------------------------------------------------------------------


def test_plan_classifies_every_row(data: DatabaseTarget) -> None:
    plan = plan_purge(data, Selection(), NO_BACKUP, now=NOW)
    assert sorted(plan.users_delete) == ["u-plain", "u-recent", "u-sql"]
    assert plan.users_anonymise == ["u-orders"]
    assert plan.products_delete == ["p-plain", "p-recent"]
    assert [(k.id, k.reason) for k in plan.products_keep] == [("p-ordered", "in 1 order item(s)")]
    assert plan.skin_analyses_delete == 3
    assert not plan.production


def test_purge_keeps_orders_whole_and_leaves_no_ownerless_scan(data: DatabaseTarget) -> None:
    orders, items = table(data, "orders"), table(data, "order_items")
    plan = plan_purge(data, Selection(), NO_BACKUP, now=NOW)
    result = purge(data, plan, NO_BACKUP, now=NOW)
    assert table(data, "orders") == orders
    assert table(data, "order_items") == items
    assert ids(data, "users") == {"u-active", "u-orders"}
    assert ids(data, "products") == {"p-active", "p-ordered"}
    assert ids(data, "skin_analyses") == {"s-active", "s-anon"}
    assert sql(data, 'SELECT id FROM skin_analyses WHERE "userId" IS NULL') == [("s-anon",)]
    email, name, password, active, updated = sql(
        data,
        'SELECT email, name, password, "isActive", "updatedAt" FROM users WHERE id = %s',
        ("u-orders",),
    )[0]
    assert (email, name, active, updated) == ("deleted-u-orders@invalid", None, False, NOW_DB)
    assert not password.startswith("$2")
    assert result.users_anonymised == ["u-orders"]
    assert sorted(result.users_deleted) == ["u-plain", "u-recent", "u-sql"]
    assert result.skin_analyses_deleted == 3
    # A second purge finds the anonymised user kept, nothing to do.
    again = plan_purge(data, Selection(), NO_BACKUP, now=NOW + timedelta(hours=1))
    assert again.nothing_to_do
    assert [k.reason for k in again.users_keep] == ["already anonymised, has orders"]


def test_older_than_spares_recent_rows(data: DatabaseTarget) -> None:
    options = replace(NO_BACKUP, older_than=timedelta(days=30))
    purge(data, plan_purge(data, Selection(), options, now=NOW), options, now=NOW)
    assert {"u-recent", "u-active", "u-orders"} <= ids(data, "users")
    assert "u-plain" not in ids(data, "users")
    assert ids(data, "products") == {"p-active", "p-ordered", "p-recent"}


def test_redact_orders_clears_addresses_of_anonymised_users_only(data: DatabaseTarget) -> None:
    options = replace(NO_BACKUP, redact_orders=True)
    plan = plan_purge(data, Selection(), options, now=NOW)
    assert plan.orders_redact == 1
    result = purge(data, plan, options, now=NOW)
    assert result.orders_redacted == 1
    rows = sql(
        data,
        'SELECT id, "shippingAddress", "billingAddress", notes, total FROM orders ORDER BY id',
    )
    assert rows[0][:4] == ("o1", None, None, None)
    assert rows[1][1:4] == ("ship addr", "bill addr", "ring twice")
    assert table(data, "order_items")  # untouched


def test_email_filter_touches_that_user_and_no_product(data: DatabaseTarget) -> None:
    plan = plan_purge(data, Selection(emails=("u-plain@x.test",)), NO_BACKUP, now=NOW)
    assert plan.users_delete == ["u-plain"]
    assert not (plan.products_delete or plan.users_anonymise)
    purge(data, plan, NO_BACKUP, now=NOW)
    assert ids(data, "users") == {"u-active", "u-orders", "u-recent", "u-sql"}
    assert len(ids(data, "products")) == 4


def test_id_looks_in_both_tables_and_sku_names_products(data: DatabaseTarget) -> None:
    plan = plan_purge(data, Selection(ids=("u-plain", "p-plain")), NO_BACKUP, now=NOW)
    assert (plan.users_delete, plan.products_delete) == (["u-plain"], ["p-plain"])
    plan = plan_purge(data, Selection(skus=("SKU-p-ordered",)), NO_BACKUP, now=NOW)
    assert plan.nothing_to_do and [k.id for k in plan.products_keep] == ["p-ordered"]


@pytest.mark.parametrize(
    "selection",
    [
        Selection(emails=("nobody@x.test",)),
        Selection(emails=("u-plain@x.test", "nobody@x.test")),
        Selection(ids=("nope",)),
        Selection(skus=("SKU-p-plain", "SKU-nope")),
        Selection(emails=(SQL_EMAIL.replace("x'", "y'"),)),
        Selection(skus=("' OR 1=1 --",)),
    ],
)
def test_unknown_records_are_refused_and_nothing_changes(
    data: DatabaseTarget, selection: Selection
) -> None:
    before = {name: table(data, name) for name in ("users", "products", "skin_analyses")}
    with pytest.raises(UsageError, match="no such record"):
        plan_purge(data, selection, NO_BACKUP, now=NOW)
    with pytest.raises(UsageError, match="no such record"):
        plan_reactivate(data, selection, since=None, environment=Environment.DEVELOPMENT)
    assert {name: table(data, name) for name in before} == before


def test_an_email_carrying_sql_is_data(data: DatabaseTarget) -> None:
    plan = plan_purge(data, Selection(emails=(SQL_EMAIL,)), NO_BACKUP, now=NOW)
    assert plan.users_delete == ["u-sql"]
    purge(data, plan, NO_BACKUP, now=NOW)
    assert ids(data, "users") == {"u-active", "u-plain", "u-orders", "u-recent"}


def test_a_known_active_record_is_listed_with_nothing_to_do(data: DatabaseTarget) -> None:
    plan = plan_purge(data, Selection(emails=("u-active@x.test",)), NO_BACKUP, now=NOW)
    assert plan.nothing_to_do
    assert plan.not_soft_deleted == ["user u-active@x.test"]


def test_purge_racing_the_application(data: DatabaseTarget) -> None:
    """Between plan and batch: one user reactivated, one places an order, a product is ordered."""
    plan = plan_purge(data, Selection(), NO_BACKUP, now=NOW)
    sql(data, 'UPDATE users SET "isActive" = true WHERE id = %s', ("u-recent",))
    add_order(data, "o3", "u-plain", "p-plain")
    result = purge(data, plan, NO_BACKUP, now=NOW)
    users = ids(data, "users")
    assert "u-recent" in users  # reactivated: never deleted
    assert sql(data, "SELECT email FROM users WHERE id = 'u-plain'") == [
        ("deleted-u-plain@invalid",)
    ]
    assert "u-plain" in result.users_anonymised
    assert "p-plain" in ids(data, "products")  # now in an order item: kept
    assert {k.id for k in result.skipped} == {"u-recent", "p-plain"}
    assert sql(data, "SELECT count(*) FROM orders WHERE id = %s", ("o3",)) == [(1,)]


def test_interrupted_purge_is_consistent_and_a_rerun_finishes(data: DatabaseTarget) -> None:
    for n in range(20):
        add_user(data, f"bulk-{n:02}", active=False)
        add_scan(data, f"bulk-scan-{n:02}", f"bulk-{n:02}")
    orders, items = table(data, "orders"), table(data, "order_items")
    options = replace(NO_BACKUP, batch_size=3)
    seen: list[BatchProgress] = []

    def interrupt(batch: BatchProgress) -> None:
        seen.append(batch)
        if len(seen) == 2:
            raise KeyboardInterrupt

    plan = plan_purge(data, Selection(), options, now=NOW)
    with pytest.raises(OperationError, match="interrupted after 2 batch"):
        purge(data, plan, options, now=NOW, progress=interrupt)
    # Two batches committed (the second's callback interrupted after its commit).
    left = sql(data, 'SELECT count(*) FROM users WHERE NOT "isActive"')[0][0]
    assert left == 24 - 6
    assert sql(data, 'SELECT count(*) FROM skin_analyses WHERE "userId" IS NULL') == [(1,)]
    rerun = purge(data, plan_purge(data, Selection(), options, now=NOW), options, now=NOW)
    assert rerun.batches > 0
    assert plan_purge(data, Selection(), options, now=NOW).nothing_to_do
    assert table(data, "orders") == orders and table(data, "order_items") == items
    assert ids(data, "users") == {"u-active", "u-orders"}


def test_purge_waits_for_the_lock_then_refuses_naming_the_holder(data: DatabaseTarget) -> None:
    options = replace(NO_BACKUP, lock_timeout=0.5)
    plan = plan_purge(data, Selection(), options, now=NOW)
    with database_lock(data, "restore-inactive", timeout=5):
        with pytest.raises(RefusedError, match="lumidb restore-inactive"):
            purge(data, plan, options, now=NOW)
        reactivate_plan = plan_reactivate(
            data, Selection(), since=None, environment=Environment.DEVELOPMENT
        )
    with (
        database_lock(data, "purge", timeout=5),
        pytest.raises(RefusedError, match="lumidb purge"),
    ):
        reactivate(data, reactivate_plan, now=NOW, lock_timeout=0.5)
    assert len(ids(data, "users")) == 5  # nothing changed


# --- restore-inactive ----------------------------------------------------------------


def test_reactivate_all_sets_updated_at_to_the_runs_clock(data: DatabaseTarget) -> None:
    plan = plan_reactivate(data, Selection(), since=None, environment=Environment.DEVELOPMENT)
    result = reactivate(data, plan, now=NOW, batch_size=2)
    assert len(result.users_restored) == 4 and len(result.products_restored) == 3
    assert sql(data, 'SELECT count(*) FROM users WHERE NOT "isActive"') == [(0,)]
    assert sql(data, "SELECT \"updatedAt\" FROM users WHERE id = 'u-plain'") == [(NOW_DB,)]
    assert result.batches == 4


def test_reactivate_refuses_anonymised_users(data: DatabaseTarget) -> None:
    purge(
        data, plan_purge(data, Selection(ids=("u-orders",)), NO_BACKUP, now=NOW), NO_BACKUP, now=NOW
    )
    plan = plan_reactivate(
        data, Selection(ids=("u-orders",)), since=None, environment=Environment.DEVELOPMENT
    )
    assert plan.nothing_to_do
    assert "anonymised" in plan.refused[0] and "u-orders" in plan.refused[0]


def test_reactivate_since_and_scopes(data: DatabaseTarget) -> None:
    plan = plan_reactivate(
        data, Selection(), since=NOW - timedelta(days=7), environment=Environment.DEVELOPMENT
    )
    assert (plan.users, plan.products) == (["u-recent"], ["p-recent"])
    plan = plan_reactivate(
        data, Selection(products=True), since=None, environment=Environment.DEVELOPMENT
    )
    assert plan.users == [] and len(plan.products) == 3
    plan = plan_reactivate(
        data, Selection(emails=("u-plain@x.test",)), since=None, environment=Environment.DEVELOPMENT
    )
    reactivate(data, plan, now=NOW)
    assert sql(data, 'SELECT id FROM users WHERE NOT "isActive" ORDER BY id') == [
        ("u-orders",),
        ("u-recent",),
        ("u-sql",),
    ]
    assert sql(data, 'SELECT count(*) FROM products WHERE NOT "isActive"') == [(3,)]


# --- inactive ----------------------------------------------------------------------


def test_inactive_lists_what_a_purge_would_do(data: DatabaseTarget) -> None:
    listing = list_inactive(data, now=NOW)
    users = {r.id: (r.purge_action, r.age_seconds) for r in listing.users}
    assert users["u-plain"] == ("delete", 40 * 86400)
    assert users["u-orders"][0] == "anonymise"
    assert users["u-recent"] == ("delete", 86400)
    products = {r.id: (r.purge_action, r.reason) for r in listing.products}
    assert products["p-ordered"] == ("keep", "in 1 order item(s)")
    assert products["p-plain"] == ("delete", None)


# --- an older server over TLS ------------------------------------------------------


@pytest.fixture
def pg15_db(pg15: Any) -> Any:
    from lumidb import migrations

    role = "purger"
    with psycopg.connect(autocommit=True, **pg15.admin_target().conninfo_params()) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            pg15.create_role(role, APP_PASSWORD)
    name = f"p_{uuid.uuid4().hex[:10]}"
    pg15.create_database(name, owner=role)
    target = replace(pg15.admin_target(name, sslmode="require"), user=role, password=APP_PASSWORD)
    migrations.deploy(target, environment=Environment.DEVELOPMENT, lock_timeout=30)
    try:
        yield target
    finally:
        pg15.drop_database(name)


@pytest.mark.pg15
def test_purge_and_reactivate_on_pg15_over_tls(pg15_db: DatabaseTarget) -> None:
    build(pg15_db)
    orders = table(pg15_db, "orders")
    purge(pg15_db, plan_purge(pg15_db, Selection(), NO_BACKUP, now=NOW), NO_BACKUP, now=NOW)
    assert table(pg15_db, "orders") == orders
    assert ids(pg15_db, "users") == {"u-active", "u-orders"}
    add_product(pg15_db, "p-back", active=False)
    plan = plan_reactivate(pg15_db, Selection(), since=None, environment=Environment.DEVELOPMENT)
    assert plan.products == ["p-back", "p-ordered"] and plan.refused
    reactivate(pg15_db, plan, now=NOW)
    assert sql(pg15_db, 'SELECT "isActive" FROM products WHERE id = %s', ("p-back",)) == [(True,)]
