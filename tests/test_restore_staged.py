"""The staged restore: a kill leaves the live schema, prepared statements re-plan, grants and
the schema's privileges carry over, readers see old or new rows but never a mix."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Cli
from test_restore import backup, change, seed, snapshot, sql
from test_restore_sessions import _lumidb_process

from lumidb.connection import DatabaseTarget
from lumidb.stage_filter import rewrite_schema

STAGE = "lumidb_stage_0a1b2c"


def schemas(db: DatabaseTarget) -> list[str]:
    return [r[0] for r in sql(db, "SELECT nspname FROM pg_namespace ORDER BY 1")]


def many_users(db: DatabaseTarget, count: int) -> None:
    sql(
        db,
        """INSERT INTO users (id, email, password, name, "updatedAt")
           SELECT 'm' || g, 'm' || g || '@x.test', repeat('h', 60), 'name ' || g, now()
           FROM generate_series(1, %s) g""",
        (count,),
    )


@pytest.fixture
def backups(cli: Cli) -> Path:
    folder = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    return folder


@pytest.fixture
def app_connection(db: DatabaseTarget) -> Any:
    with psycopg.connect(autocommit=True, **db.conninfo_params("lumiai-api")) as conn:
        yield conn


def test_kill_9_leaves_the_live_schema_and_the_next_restore_drops_the_staging_one(
    db: DatabaseTarget, tmp_path: Path, cli: Cli
) -> None:
    folder = tmp_path / "backups"
    many_users(db, 200_000)
    backup(db, folder)
    expected = snapshot(db)
    sql(db, "DELETE FROM users WHERE id LIKE 'm1%%'")
    before = snapshot(db)
    proc = _lumidb_process(db, folder, "--yes", "--no-safety-backup")
    deadline = time.monotonic() + 60
    staged = False
    while time.monotonic() < deadline and proc.poll() is None and not staged:
        staged = bool(
            sql(
                db,
                """SELECT 1 FROM pg_stat_activity WHERE application_name = 'lumidb restore-latest'
                   AND state = 'active' AND (query LIKE 'COPY%%' OR query LIKE 'CREATE%%INDEX%%')""",
            )
        )
        time.sleep(0.002)
    if not staged:
        proc.communicate(timeout=60)
        pytest.skip("the restore was too fast to kill while it loaded here")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert snapshot(db) == before
    left = [s for s in schemas(db) if s.startswith("lumidb_stage_")]
    assert left, "the kill left no staging schema (too late?)"
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 0, run.stderr
    assert snapshot(db) == expected
    assert not [s for s in schemas(db) if s.startswith(("lumidb_stage_", "lumidb_prev_"))]


def test_prepared_statements_kept_across_the_restore_read_the_restored_rows(
    cli: Cli, db: DatabaseTarget, backups: Path, app_connection: Any
) -> None:
    """As Prisma does: a session keeps prepared statements; the schema swap re-plans them."""
    seed(db)
    backup(db, backups)
    change(db)  # u1 gone, u2 renamed, 'new' added
    conn = app_connection
    conn.execute("PREPARE by_id(text) AS SELECT name FROM users WHERE id = $1")
    conn.execute("PREPARE everyone AS SELECT count(*) FROM users")
    query = "SELECT name FROM users WHERE id = %s"
    for _ in range(6):  # psycopg prepares server-side after a few runs
        conn.execute(query, ("u2",), prepare=True)
    assert conn.execute("EXECUTE by_id('u2')").fetchone() == ("changed",)
    changed_count = conn.execute("EXECUTE everyone").fetchone()
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 0, run.stderr
    assert conn.execute("EXECUTE by_id('u2')").fetchone() == ("name 2",)
    assert conn.execute("EXECUTE by_id('u1')").fetchone() == ("name 1",)
    assert conn.execute("EXECUTE by_id('new')").fetchone() is None
    assert conn.execute(query, ("u2",), prepare=True).fetchone() == ("name 2",)
    assert conn.execute("EXECUTE everyone").fetchone() == (changed_count[0],)  # 1 gone, 1 new


def test_other_roles_grants_and_the_schemas_privileges_carry_over(
    cli: Cli, db: DatabaseTarget, backups: Path, app_server: Any
) -> None:
    seed(db)
    backup(db, backups)
    app_server.create_role("staged_reader", "reader-pw-2")
    sql(db, "GRANT SELECT ON users TO staged_reader")
    sql(db, "GRANT UPDATE (name) ON users TO staged_reader")
    sql(db, "COMMENT ON SCHEMA public IS 'the shop'")
    acl_before = sql(
        db,
        "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace WHERE nspname = 'public'",
    )
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 0, run.stderr
    assert sql(
        db,
        """SELECT has_table_privilege('staged_reader', 'public.users', 'SELECT'),
                  has_column_privilege('staged_reader', 'public.users', 'name', 'UPDATE'),
                  has_table_privilege('staged_reader', 'public.orders', 'SELECT')""",
    ) == [(True, True, False)]
    assert (
        sql(
            db,
            "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace WHERE nspname = 'public'",
        )
        == acl_before
    )
    assert sql(db, "SELECT obj_description('public'::regnamespace, 'pg_namespace')") == [
        ("the shop",)
    ]
    # The column defaults point at the restored schema's own sequences and types.
    assert sql(
        db,
        """SELECT count(*) FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
           WHERE c.relnamespace = 'public'::regnamespace
             AND pg_get_expr(d.adbin, d.adrelid) LIKE '%%lumidb_%%'""",
    ) == [(0,)]


def test_a_reader_during_the_restore_sees_old_or_new_rows_never_a_mix(
    cli: Cli, db: DatabaseTarget, backups: Path, app_connection: Any
) -> None:
    seed(db)
    many_users(db, 30_000)
    sql(
        db,
        'INSERT INTO products (id, sku, name, category, type, description, detail, price, "updatedAt") '
        "VALUES ('p2', 'SKU-2', 'Serum', 'SKINCARE', 'serum', 'd', 'x', 5, now())",
    )
    backup(db, backups)
    new = sql(db, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products)")[0]
    sql(db, "DELETE FROM users WHERE id LIKE 'm2%%'")
    sql(db, "DELETE FROM products WHERE id = 'p2'")
    old = sql(db, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products)")[0]
    seen: set[tuple[int, int]] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                with app_connection.transaction():
                    users = app_connection.execute("SELECT count(*) FROM users").fetchone()[0]
                    products = app_connection.execute("SELECT count(*) FROM products").fetchone()[0]
                seen.add((users, products))
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        cli.use(db)
        run = cli("restore-latest", "--yes", "--no-safety-backup")
    finally:
        time.sleep(0.2)
        stop.set()
        reader.join(30)
    assert run.exit_code == 0, run.stderr
    assert not errors, errors
    assert old in seen and new in seen
    assert seen <= {old, new}, seen


# --- the rewrite alone --------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "CREATE TABLE public.x (id integer DEFAULT nextval('public.x_id_seq'::regclass));",
            f"CREATE TABLE {STAGE}.x (id integer DEFAULT nextval('{STAGE}.x_id_seq'::regclass));",
        ),
        (
            "role public.\"Role\" DEFAULT 'USER'::public.\"Role\", c text DEFAULT 'public.y'::text",
            f"role {STAGE}.\"Role\" DEFAULT 'USER'::{STAGE}.\"Role\", c text DEFAULT 'public.y'::text",
        ),
        (
            "SELECT pg_catalog.setval('public.\"Odd''s_seq\"', 5, true);",
            f"SELECT pg_catalog.setval('{STAGE}.\"Odd''s_seq\"', 5, true);",
        ),
        (
            "COMMENT ON TABLE public.x IS 'see public.y';",
            f"COMMENT ON TABLE {STAGE}.x IS 'see public.y';",
        ),
        (
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $_$ SELECT 1 FROM public.x $_$;",
            f"CREATE FUNCTION {STAGE}.f() RETURNS int LANGUAGE sql AS $_$ SELECT 1 FROM public.x $_$;",
        ),
        (
            'CREATE VIEW public.v AS SELECT t.public, "public".y FROM public.t -- public.z',
            f"CREATE VIEW {STAGE}.v AS SELECT t.public, {STAGE}.y FROM {STAGE}.t -- public.z",
        ),
        (
            "SELECT E'\\' public.x', public2.x, mypublic.y /* public.c */",
            "SELECT E'\\' public.x', public2.x, mypublic.y /* public.c */",
        ),
    ],
)
def test_rewrite_moves_names_only_where_certain(before: str, after: str) -> None:
    assert rewrite_schema(before.encode(), "public", STAGE).decode() == after


def test_rewrite_of_a_quoted_schema() -> None:
    text = b'CREATE TABLE "Shop"."T" (r "Shop".e DEFAULT \'a\'::"Shop".e); SELECT \'"Shop".s\'::regclass'
    assert (
        rewrite_schema(text, "Shop", STAGE)
        == (
            f"CREATE TABLE {STAGE}.\"T\" (r {STAGE}.e DEFAULT 'a'::{STAGE}.e); "
            f"SELECT '{STAGE}.s'::regclass"
        ).encode()
    )
