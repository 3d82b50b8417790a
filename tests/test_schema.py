"""The migrated database is exactly the schema of SCHEMA.md, and models match migrations."""

from __future__ import annotations

from pathlib import Path

import psycopg
from conftest import Cli

from lumidb import catalog, migrations, revision_files
from lumidb.connection import DatabaseTarget, connect

TS = "timestamp(3) without time zone"
NOW = "CURRENT_TIMESTAMP"
MONEY = "numeric(10,2)"


def _cols(*rows: tuple[str, str, bool, str | None]) -> dict[str, tuple[str, bool, str | None]]:
    return {name: (type_, nullable, default) for name, type_, nullable, default in rows}


# Written from SCHEMA.md, column by column: (name, type, nullable, default).
EXPECTED = catalog.Catalog(
    enums={
        "Role": ["USER", "ADMIN"],
        "Category": ["MAKEUP", "SKINCARE"],
        "Tone": ["WARM", "COOL", "NEUTRAL"],
        "SkinType": ["DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE"],
        "OrderStatus": [
            "PENDING",
            "CONFIRMED",
            "PROCESSING",
            "SHIPPED",
            "DELIVERED",
            "CANCELLED",
            "REFUNDED",
        ],
    },
    columns={
        "users": _cols(
            ("id", "text", False, None),
            ("email", "text", False, None),
            ("password", "text", False, None),
            ("name", "text", True, None),
            ("role", '"Role"', False, "'USER'::\"Role\""),
            ("isActive", "boolean", False, "true"),
            ("createdAt", TS, False, NOW),
            ("updatedAt", TS, False, None),
        ),
        "products": _cols(
            ("id", "text", False, None),
            ("sku", "text", False, None),
            ("name", "text", False, None),
            ("category", '"Category"', False, None),
            ("type", "text", False, None),
            ("description", "text", False, None),
            ("detail", "text", False, None),
            ("price", MONEY, False, None),
            ("currency", "text", False, "'INR'::text"),
            ("shade", '"Tone"', True, None),
            ("skinType", '"SkinType"', True, None),
            ("badge", "text", True, None),
            ("stock", "integer", False, "0"),
            ("imageUrl", "text", True, None),
            ("images", "text[]", True, None),
            ("ratingAvg", "double precision", False, "0"),
            ("ratingCount", "integer", False, "0"),
            ("isActive", "boolean", False, "true"),
            ("isFeatured", "boolean", False, "false"),
            ("createdAt", TS, False, NOW),
            ("updatedAt", TS, False, None),
        ),
        "orders": _cols(
            ("id", "text", False, None),
            ("orderNumber", "text", False, None),
            ("userId", "text", False, None),
            ("subtotal", MONEY, False, None),
            ("tax", MONEY, False, None),
            ("shipping", MONEY, False, None),
            ("total", MONEY, False, None),
            ("currency", "text", False, "'INR'::text"),
            ("status", '"OrderStatus"', False, "'PENDING'::\"OrderStatus\""),
            ("shippingAddress", "text", True, None),
            ("billingAddress", "text", True, None),
            ("paymentMethod", "text", True, None),
            ("paymentIntentId", "text", True, None),
            ("notes", "text", True, None),
            ("createdAt", TS, False, NOW),
            ("updatedAt", TS, False, None),
        ),
        "order_items": _cols(
            ("id", "text", False, None),
            ("orderId", "text", False, None),
            ("productId", "text", False, None),
            ("name", "text", False, None),
            ("sku", "text", False, None),
            ("price", MONEY, False, None),
            ("quantity", "integer", False, None),
            ("subtotal", MONEY, False, None),
            ("createdAt", TS, False, NOW),
        ),
        "skin_analyses": _cols(
            ("id", "text", False, None),
            ("userId", "text", True, None),
            ("imageUrl", "text", True, None),
            ("tone", '"Tone"', False, None),
            ("skinType", '"SkinType"', False, None),
            ("confidence", "double precision", True, None),
            ("rgbR", "integer", False, None),
            ("rgbG", "integer", False, None),
            ("rgbB", "integer", False, None),
            ("variance", "double precision", True, None),
            ("brightness", "double precision", True, None),
            ("description", "text", True, None),
            ("createdAt", TS, False, NOW),
        ),
    },
    indexes={
        **{
            f"{t}_pkey": f"CREATE UNIQUE INDEX {t}_pkey ON {t} USING btree (id)"
            for t in ("users", "products", "orders", "order_items", "skin_analyses")
        },
        "users_email_key": "CREATE UNIQUE INDEX users_email_key ON users USING btree (email)",
        "users_email_idx": "CREATE INDEX users_email_idx ON users USING btree (email)",
        "products_sku_key": "CREATE UNIQUE INDEX products_sku_key ON products USING btree (sku)",
        "products_category_type_idx": "CREATE INDEX products_category_type_idx ON products USING btree (category, type)",
        "products_shade_skinType_idx": 'CREATE INDEX "products_shade_skinType_idx" ON products USING btree (shade, "skinType")',
        "products_sku_idx": "CREATE INDEX products_sku_idx ON products USING btree (sku)",
        "orders_orderNumber_key": 'CREATE UNIQUE INDEX "orders_orderNumber_key" ON orders USING btree ("orderNumber")',
        "orders_userId_idx": 'CREATE INDEX "orders_userId_idx" ON orders USING btree ("userId")',
        "orders_orderNumber_idx": 'CREATE INDEX "orders_orderNumber_idx" ON orders USING btree ("orderNumber")',
        "orders_status_idx": "CREATE INDEX orders_status_idx ON orders USING btree (status)",
        "order_items_orderId_idx": 'CREATE INDEX "order_items_orderId_idx" ON order_items USING btree ("orderId")',
        "skin_analyses_userId_idx": 'CREATE INDEX "skin_analyses_userId_idx" ON skin_analyses USING btree ("userId")',
        "skin_analyses_tone_skinType_idx": 'CREATE INDEX "skin_analyses_tone_skinType_idx" ON skin_analyses USING btree (tone, "skinType")',
    },
    constraints={
        **{
            f"{t}_pkey": f"{t}: PRIMARY KEY (id)"
            for t in ("users", "products", "orders", "order_items", "skin_analyses")
        },
        "orders_userId_fkey": 'orders: FOREIGN KEY ("userId") REFERENCES users(id) ON UPDATE CASCADE ON DELETE RESTRICT',
        "order_items_orderId_fkey": 'order_items: FOREIGN KEY ("orderId") REFERENCES orders(id) ON UPDATE CASCADE ON DELETE CASCADE',
        "order_items_productId_fkey": 'order_items: FOREIGN KEY ("productId") REFERENCES products(id) ON UPDATE CASCADE ON DELETE RESTRICT',
        "skin_analyses_userId_fkey": 'skin_analyses: FOREIGN KEY ("userId") REFERENCES users(id) ON UPDATE CASCADE ON DELETE SET NULL',
    },
)


def test_deployed_catalog_is_exactly_schema_md(db: DatabaseTarget) -> None:
    with connect(db) as conn:
        live = catalog.snapshot(conn, "public")
    assert catalog.differences(EXPECTED, live) == []
    assert live == EXPECTED


def test_catalog_differences_are_reported(db: DatabaseTarget) -> None:
    with connect(db) as conn:
        conn.execute("ALTER TABLE users ALTER COLUMN \"role\" SET DEFAULT 'ADMIN'")
        conn.execute("DROP INDEX users_email_idx")
        live = catalog.snapshot(conn, "public")
    found = catalog.differences(EXPECTED, live)
    assert "index users_email_idx is missing: the schema has it, the database does not" in found
    assert any(line.startswith("column users.role is") and "ADMIN" in line for line in found)


def test_models_and_migrations_agree(db: DatabaseTarget) -> None:
    state = migrations.status(db)
    assert state.pending == [] and state.current == ["0001"]
    assert state.drift == []


def test_drift_is_found_when_database_and_models_disagree(db: DatabaseTarget) -> None:
    with connect(db) as conn:
        conn.execute("ALTER TABLE products ADD COLUMN phone text")
        conn.execute("ALTER TYPE \"Tone\" ADD VALUE 'OLIVE'")
    drift = migrations.status(db).drift
    assert any("products" in d and "phone" in d for d in drift)
    assert any("Tone" in d and "OLIVE" in d for d in drift)


def test_single_head() -> None:
    assert len(migrations.script_directory().get_heads()) == 1


def test_known_revision_ids_match_alembic() -> None:
    script = migrations.script_directory()
    assert revision_files.known_revision_ids() == {s.revision for s in script.walk_revisions()}


def test_head_revision_ids_match_alembic() -> None:
    assert revision_files.head_revision_ids() == set(migrations.script_directory().get_heads())


_REVISION_FILE = """
from collections.abc import Sequence

revision: str = {revision!r}
down_revision: str | Sequence[str] | None = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
"""


def test_revision_graph_matches_alembic_on_branches_and_merges(tmp_path: Path) -> None:
    """Two branches, a merge, a second open branch: heads and ids as Alembic reads them."""
    from alembic.script import ScriptDirectory

    versions = tmp_path / "versions"
    versions.mkdir()
    history = {
        "a1": None,
        "b1": "a1",
        "b2": "a1",
        "m1": ("b1", "b2"),
        "c1": "m1",
        "d1": "a1",
    }
    for revision, down in history.items():
        (versions / f"{revision}_x.py").write_text(
            _REVISION_FILE.format(revision=revision, down=down)
        )
    script = ScriptDirectory(str(tmp_path))
    assert revision_files.head_revision_ids(versions) == set(script.get_heads()) == {"c1", "d1"}
    assert revision_files.known_revision_ids(versions) == {
        s.revision for s in script.walk_revisions()
    }


def test_models_insert_uuid_and_updated_at(db: DatabaseTarget) -> None:
    import uuid

    from sqlalchemy.orm import Session

    from lumidb.connection import make_engine
    from lumidb.schema.models import Role, User

    engine = make_engine(db)
    try:
        with Session(engine) as session:
            user = User(email="ana@example.com", password="x", name="Ana")
            session.add(user)
            session.commit()
            assert uuid.UUID(user.id).version == 4
            first = user.updated_at
            assert user.role is Role.USER and user.is_active is True and first is not None
            user.name = "Ana B"
            session.commit()
            assert user.updated_at > first
    finally:
        engine.dispose()


def test_downgrade_to_base_then_upgrade_with_data(cli: Cli, db: DatabaseTarget) -> None:
    with psycopg.connect(**db.conninfo_params()) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password, \"updatedAt\") VALUES ('u1', 'a@b.c', 'x', now())"
        )
    cli.use(db)
    down = cli("migrate", "down", "base", "--yes")
    assert down.exit_code == 0, down.stderr
    with connect(db) as conn:
        assert conn.execute("SELECT to_regclass('users')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM pg_type WHERE typname = 'Role'").fetchone() == (
            0,
        )
    up = cli("migrate", "deploy")
    assert up.exit_code == 0, up.stderr
    with connect(db) as conn:
        assert catalog.differences(EXPECTED, catalog.snapshot(conn, "public")) == []
