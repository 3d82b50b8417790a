"""restore-latest against real servers and real psql/pg_restore/pg_dump: round trips, faults, roles."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import APP_PASSWORD, Cli, app_target

from lumidb.backup import BackupOptions, create_backup
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget
from lumidb.restore import RestoreOptions, plan_restore
from lumidb.timespec import utc_now

MIGRATION_SQL = (
    Path(__file__).parent.parent / "lumidb/schema/migrations/versions/20261125_0001_initial.sql"
)


# --- helpers -----------------------------------------------------------------------


def sql(target: DatabaseTarget, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def seed(target: DatabaseTarget, users: int = 3) -> None:
    """Rows whose text looks like the statements the filter drops, in COPY data."""
    sql(
        target,
        """
        INSERT INTO users (id, email, password, name, "updatedAt")
        SELECT 'u' || g, 'u' || g || '@x.test', 'h', 'name ' || g, now()
        FROM generate_series(1, %s) g
        """,
        (users,),
    )
    sql(
        target,
        """
        INSERT INTO users (id, email, password, name, "updatedAt") VALUES
          ('GRANT ALL ON users TO evil;', 'g@x.test', 'h', E'line1\\nREVOKE x;', now()),
          ('ALTER TABLE users OWNER TO evil;', 'o@x.test', 'h', 'SET transaction_timeout = 0;', now())
        """,
    )
    sql(
        target,
        """
        INSERT INTO products (id, sku, name, category, type, description, detail, price,
                              images, "updatedAt")
        VALUES ('p1', 'SKU-1', 'Lipstick', 'MAKEUP', 'lip', 'd', 'x', 9.99, '{a,b}', now())
        """,
    )


def snapshot(target: DatabaseTarget, schema: str = "public") -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows (full contents, ordered)."""
    tables = [
        r[0]
        for r in sql(
            target,
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1",
            (schema,),
        )
    ]
    result = {}
    for table in tables:
        row = sql(
            target,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"{schema}\".\"{table}\" t",
        )[0]
        result[table] = (int(row[0]), str(row[1]))
    return result


def change(target: DatabaseTarget) -> None:
    sql(target, "DELETE FROM users WHERE id = 'u1'")
    sql(target, "UPDATE users SET name = 'changed' WHERE id = 'u2'")
    sql(
        target,
        """INSERT INTO users (id, email, password, "updatedAt") VALUES ('new', 'n@x', 'h', now())""",
    )


def backup(target: DatabaseTarget, folder: Path, **options: Any) -> Path:
    result = create_backup(target, BackupOptions(backup_dir=folder, **options), now=utc_now())
    return Path(result.path)


@pytest.fixture
def backups(cli: Cli) -> Path:
    folder = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    return folder


def environment_row(target: DatabaseTarget) -> list[tuple[Any, ...]]:
    return sql(target, "SELECT * FROM lumidb.environment")


# --- round trips -------------------------------------------------------------------


def test_round_trip_plain_zstd_with_undo(cli: Cli, db: DatabaseTarget, backups: Path) -> None:
    seed(db)
    record = environment_row(db)
    expected = snapshot(db)
    backup(db, backups)
    change(db)
    changed = snapshot(db)
    assert changed != expected
    cli.use(db)
    run = cli("restore-latest", "--yes", "--json")
    assert run.exit_code == 0, run.stderr
    assert snapshot(db) == expected
    assert environment_row(db) == record
    doc = run.json()
    assert doc["kind"] == "restore_result"
    assert doc["rows"]["users"] == 5
    assert doc["safety_backup"] and "/safety/" in doc["safety_backup"]
    assert doc["undo_command"] == f"lumidb restore-latest --file {doc['safety_backup']}"
    assert "restore " in run.stderr  # the plan, on stderr with --json
    # The undo: the safety backup, named with --file, brings the changed state back.
    undo = cli("restore-latest", "--yes", "--no-safety-backup", "--file", doc["safety_backup"])
    assert undo.exit_code == 0, undo.stderr
    assert snapshot(db) == changed
    # A second restore-latest never picks the safety backup on its own.
    again = cli("restore-latest", "--yes", "--no-safety-backup", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["file"] != doc["safety_backup"]
    assert snapshot(db) == expected


def test_custom_replaces_a_non_empty_database(cli: Cli, db: DatabaseTarget, backups: Path) -> None:
    seed(db)
    expected = snapshot(db)
    path = backup(db, backups, format="custom")
    # Objects the dump does not have, and one that collides with it.
    sql(db, "CREATE TABLE extra (id int)")
    sql(db, "CREATE TYPE mood AS ENUM ('ok')")
    sql(db, "CREATE FUNCTION add1(i int) RETURNS int LANGUAGE sql AS 'SELECT i + 1'")
    sql(db, 'CREATE VIEW active_users AS SELECT id FROM users WHERE "isActive"')
    change(db)
    # A backup at a revision this code does not know still restores, with a warning.
    manifest_file = path.with_name(path.name + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["alembic_revision"] = "9999zz"
    manifest_file.write_text(json.dumps(manifest))
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 0, run.stderr
    assert "9999zz" in run.stderr and "does not know" in run.stderr
    assert snapshot(db) == expected
    leftovers = sql(
        db,
        """
        SELECT 'rel', relname FROM pg_class WHERE relname IN ('extra', 'active_users')
        UNION ALL SELECT 'type', typname FROM pg_type WHERE typname = 'mood'
        UNION ALL SELECT 'fn', proname FROM pg_proc WHERE proname = 'add1'
        """,
    )
    assert leftovers == []


def test_custom_with_jobs(cli: Cli, db: DatabaseTarget, backups: Path) -> None:
    seed(db)
    expected = snapshot(db)
    backup(db, backups, format="custom")
    change(db)
    cli.use(db)
    refused = cli("restore-latest", "--yes", "--jobs", "2", "--no-safety-backup")
    assert refused.exit_code == 2
    assert snapshot(db) != expected
    run = cli("restore-latest", "--yes", "--jobs", "2", "--json")
    assert run.exit_code == 0, run.stderr
    assert snapshot(db) == expected
    assert run.json()["safety_backup"]


# --- faults: the database stays exactly as it was ----------------------------------


def _plain_copy(db: DatabaseTarget, folder: Path) -> bytes:
    path = backup(db, folder, compression="none")
    return path.read_bytes()


def test_truncated_file_leaves_database_unchanged(
    cli: Cli, db: DatabaseTarget, backups: Path
) -> None:
    seed(db)
    data = _plain_copy(db, backups)
    change(db)
    before = snapshot(db)
    cli.use(db)
    # Cut inside COPY data, and cut exactly at the end of a statement (the worst case).
    copy_at = data.index(b"COPY public.users")
    statement_end = data.index(b";\n", data.index(b"CREATE TABLE public.users")) + 2
    for i, cut in enumerate((copy_at + 40, statement_end)):
        legacy = backups / f"backup-trunc{i}.sql"
        legacy.write_bytes(data[:cut])
        run = cli("restore-latest", "--yes", "--no-safety-backup", "--file", str(legacy))
        assert run.exit_code == 1, run.stderr
        assert "nothing changed" in run.stderr
        assert snapshot(db) == before


def test_bad_statement_leaves_database_unchanged(
    cli: Cli, db: DatabaseTarget, backups: Path
) -> None:
    seed(db)
    data = _plain_copy(db, backups)
    change(db)
    before = snapshot(db)
    at = data.index(b"CREATE TABLE public.products")
    legacy = backups / "backup-bad.sql"
    legacy.write_bytes(data[:at] + b"CREATE TABLE public.bogus (a bogus_type);\n" + data[at:])
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--file", str(legacy))
    assert run.exit_code == 1
    assert "bogus_type" in run.stderr and "nothing changed" in run.stderr
    assert snapshot(db) == before
    # psql stops at the error long before the end of a big file: no hang, same answer.
    legacy.write_bytes(
        data[:at]
        + b"CREATE TABLE public.bogus (a bogus_type);\n"
        + b"-- pad\n" * 400_000
        + data[at:]
    )
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--file", str(legacy))
    assert run.exit_code == 1
    assert "bogus_type" in run.stderr and "nothing changed" in run.stderr
    assert snapshot(db) == before


def test_checksum_mismatch_is_skipped(cli: Cli, db: DatabaseTarget, backups: Path) -> None:
    seed(db)
    expected = snapshot(db)
    backup(db, backups)
    change(db)
    newer = backup(db, backups)
    raw = bytearray(newer.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newer.write_bytes(bytes(raw))
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--json")
    assert run.exit_code == 0, run.stderr
    assert f"skipped {newer.name}" in run.stderr and "checksum" in run.stderr
    assert run.json()["file"] != str(newer)
    assert snapshot(db) == expected


def test_without_terminal_and_yes_refuses(cli: Cli, db: DatabaseTarget, backups: Path) -> None:
    seed(db)
    backup(db, backups)
    change(db)
    before = snapshot(db)
    cli.use(db)
    run = cli("restore-latest")
    assert run.exit_code == 3
    assert "--yes" in run.stderr
    assert snapshot(db) == before
    assert not (backups / "safety").exists()


def test_nothing_to_restore_says_where_it_looked(
    cli: Cli, db: DatabaseTarget, backups: Path
) -> None:
    cli.use(db)
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 1
    assert str(backups) in run.stderr
    backups.mkdir()
    (backups / ".lumidb-x.sql.zst.partial").write_bytes(b"partial")
    (backups / "backup-old.sql").write_text("-- legacy, never a candidate\n")
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 1 and "no complete backup" in run.stderr
    missing = cli("restore-latest", "--yes", "--file", "nope.sql.zst")
    assert missing.exit_code == 2 and "not found" in missing.stderr


def test_production_target_says_production_and_stays_production(
    cli: Cli, db: DatabaseTarget, backups: Path
) -> None:
    from lumidb.guard import record_environment

    seed(db)
    backup(db, backups)
    with psycopg.connect(autocommit=True, **db.conninfo_params()) as conn:
        record_environment(conn, Environment.PRODUCTION)
    record = environment_row(db)
    cli.use(db)
    refused = cli("restore-latest", "--no-safety-backup")
    assert refused.exit_code == 3 and "PRODUCTION" in refused.stdout
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--json")
    assert run.exit_code == 0, run.stderr
    assert "PRODUCTION" in run.stderr
    assert environment_row(db) == record


# --- across roles and old scripts ---------------------------------------------------


@pytest.fixture
def other_owner_db(app_server: Any) -> Iterator[DatabaseTarget]:
    """A database owned by another role, its tables too, with grants (as production has)."""
    role = "other_owner"
    if not sql(app_server.admin_target(), "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
        app_server.create_role(role, APP_PASSWORD)
    name = f"src_{uuid.uuid4().hex[:10]}"
    app_server.create_database(name, owner=role)
    target = replace(app_target(app_server, name), user=role)
    sql(target, MIGRATION_SQL.read_text())
    sql(target, "GRANT SELECT ON users TO PUBLIC; REVOKE ALL ON products FROM PUBLIC")
    try:
        yield target
    finally:
        app_server.drop_database(name)


def test_legacy_dump_of_another_role_restores_with_file(
    cli: Cli, db: DatabaseTarget, other_owner_db: DatabaseTarget, backups: Path, app_server: Any
) -> None:
    from lumidb.pgtools import choose_client

    seed(other_owner_db)
    expected = snapshot(other_owner_db)
    suite = choose_client(18, needs_ssl=False)
    admin = app_server.admin_target(other_owner_db.dbname)
    dump = subprocess.run(
        [str(suite.program("pg_dump")), f"--dbname={admin.child_dsn()}"],
        env=admin.child_env(),
        capture_output=True,
        check=True,
    ).stdout
    assert b"OWNER TO other_owner" in dump and b"GRANT SELECT" in dump
    backups.mkdir()
    legacy = backups / "backup-2024-11-24T14-38-00.000Z.sql"
    legacy.write_bytes(dump)
    seed(db, users=1)
    cli.use(db)
    latest = cli("restore-latest", "--yes")
    assert latest.exit_code == 1  # a legacy file is never "latest"
    run = cli("restore-latest", "--yes", "--file", str(legacy))
    assert run.exit_code == 0, run.stderr
    assert "no manifest" in run.stderr
    restored = snapshot(db)
    restored.pop("alembic_version", None)
    assert restored == expected
    owners = sql(db, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == [("lumiai",)]


# --- an older server over TLS ------------------------------------------------------


@pytest.mark.pg15
def test_pg18_plain_dump_into_pg15_over_ssl(
    cli: Cli, db: DatabaseTarget, pg15: Any, backups: Path
) -> None:
    seed(db)
    expected = snapshot(db)
    path = backup(db, backups)
    assert b"transaction_timeout" in _decompressed(path)
    role = "restorer"
    if not sql(pg15.admin_target(), "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
        pg15.create_role(role, APP_PASSWORD)
    name = f"r_{uuid.uuid4().hex[:10]}"
    pg15.create_database(name, owner=role)
    try:
        target = replace(
            pg15.admin_target(name, sslmode="require"), user=role, password=APP_PASSWORD
        )
        cli.use(target)
        run = cli("restore-latest", "--yes", "--no-safety-backup", "--file", str(path))
        assert run.exit_code == 0, run.stderr
        assert snapshot(target) == expected
    finally:
        pg15.drop_database(name)


def _decompressed(path: Path) -> bytes:
    import zstandard

    with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as reader:
        return reader.read()


def test_plan_age_is_measured_from_the_given_time(db: DatabaseTarget, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from test_backup_store import fake_backup

    fake_backup(tmp_path, datetime(2026, 11, 25, 12, tzinfo=UTC), database=db.dbname)
    options = RestoreOptions(backup_dir=tmp_path)
    plan = plan_restore(db, options, now=datetime(2026, 11, 27, 18, tzinfo=UTC))
    assert plan.age_seconds == 2 * 86400 + 6 * 3600
