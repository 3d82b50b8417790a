"""A backup file is data, never code: hostile backups (issue 12) against the real servers.

Each planted backup has a correct manifest (size and SHA-256 match), as an attacker who
can write into the backup folder would make it.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import LUMIDB, Cli, clean_env, url_of
from test_restore import backup, environment_row, seed, snapshot, sql

from lumidb.backup_store import manifest_path_of
from lumidb.connection import DatabaseTarget
from lumidb.dump_filter import DumpFilter
from lumidb.dump_stream import CopyRowCounter, RefusedBackup, parse_copy_header


def plant(path: Path, data: bytes) -> None:
    """Replace a plain backup's data and give it a manifest that matches."""
    path.write_bytes(data)
    manifest_file = manifest_path_of(path)
    manifest = json.loads(manifest_file.read_text())
    manifest["size"] = len(data)
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    manifest_file.write_text(json.dumps(manifest))


def plain_backup(db: DatabaseTarget, folder: Path) -> tuple[Path, bytes]:
    path = backup(db, folder, compression="none")
    return path, path.read_bytes()


def before_table(data: bytes, table: bytes = b"CREATE TABLE public.products") -> int:
    return data.index(table)


@pytest.fixture
def planted(cli: Cli, db: DatabaseTarget) -> tuple[Path, bytes]:
    folder = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    seed(db)
    cli.use(db)
    return plain_backup(db, folder)


HOSTILE_LINES = [
    (b"\\! touch {marker}\n", "meta-command"),
    (b"\\o {marker}\n", "meta-command"),
    (b"\\copy (SELECT 1) TO '{marker}'\n", "meta-command"),
    (b"CREATE TABLE public.x (a int); \\! touch {marker}\n", "meta-command"),
    (b"\\set ON_ERROR_STOP off\n", "meta-command"),
    (b"COMMIT;\n", "transaction control"),
    (b"END;\n", "transaction control"),
    (b"ROLLBACK;\n", "transaction control"),
    (b"DROP DATABASE lumidb_template;\n", "DROP DATABASE"),
    (b"CREATE ROLE evil SUPERUSER;\n", "CREATE ROLE"),
    (b"ALTER SYSTEM SET work_mem = '1GB';\n", "ALTER SYSTEM"),
    (b"DO $$BEGIN PERFORM 1; END$$;\n", "DO"),
    (b"COPY public.users TO PROGRAM 'touch {marker}';\n", "COPY"),
    (b"SELECT pg_catalog.pg_read_file('/etc/passwd');\n", "SELECT"),
    (b"DELETE FROM lumidb.environment;\n", "DELETE"),
    (b"ALTER SEQUENCE other.s RESTART;\n", "schema 'other'"),
]


@pytest.mark.parametrize(("line", "what"), HOSTILE_LINES, ids=[w for _, w in HOSTILE_LINES])
def test_hostile_line_is_refused_before_anything_runs(
    cli: Cli,
    db: DatabaseTarget,
    planted: tuple[Path, bytes],
    tmp_path: Path,
    line: bytes,
    what: str,
) -> None:
    path, data = planted
    marker = tmp_path / "pwned"
    hostile = line.replace(b"{marker}", str(marker).encode())
    at = before_table(data)
    plant(path, data[:at] + hostile + data[at:])
    line_number = data[:at].count(b"\n") + 1
    sql(db, "DELETE FROM users WHERE id = 'u1'")
    before = snapshot(db)
    for args in (["restore-latest", "--yes"], ["restore-latest", "--yes", "--file", str(path)]):
        run = cli(*args)
        assert run.exit_code == 2, run.stderr
        assert f"line {line_number}" in run.stderr and what in run.stderr, run.stderr
        assert "nothing changed" in run.stderr
        assert not marker.exists()
        assert snapshot(db) == before
    verify = cli("backups", "verify", str(path))
    assert verify.exit_code == 2 and f"line {line_number}" in verify.stderr, verify.stderr
    assert not marker.exists()
    assert sql(db, "SELECT 1 FROM pg_database WHERE datname = 'lumidb_template'")


def test_transaction_escape_then_failure_changes_nothing(
    cli: Cli, db: DatabaseTarget, planted: tuple[Path, bytes]
) -> None:
    path, data = planted
    at = before_table(data)
    plant(path, data[:at] + b"COMMIT;\nCREATE TABLE public.t (a bogus_type);\n" + data[at:])
    before = snapshot(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 2 and "transaction control" in run.stderr
    assert snapshot(db) == before


def test_record_changed_by_backup_code_is_rolled_back_and_guard_holds(
    cli: Cli, db: DatabaseTarget, planted: tuple[Path, bytes]
) -> None:
    """Allowed forms only, but a CHECK runs a function during COPY: the checks catch it."""
    path, data = planted
    cli.setenv("NODE_ENV", "production")
    assert cli("migrate", "deploy").exit_code == 0
    cli.setenv("NODE_ENV", "development")
    record = environment_row(db)
    before = snapshot(db)
    for body in (
        b"DELETE FROM lumidb.environment",
        b"EXECUTE 'DROP SCHEMA lumidb CASCADE'",
    ):
        trap = (
            b"CREATE FUNCTION public.trap() RETURNS boolean LANGUAGE plpgsql AS $$\n"
            b"BEGIN " + body + b"; RETURN true; END\n$$;\n"
            b"CREATE TABLE public.trapped (a integer CHECK (public.trap()));\n"
            b"COPY public.trapped (a) FROM stdin;\n1\n\\.\n"
        )
        at = before_table(data)
        plant(path, data[:at] + trap + data[at:])
        run = cli("restore-latest", "--yes", "--no-safety-backup")
        assert run.exit_code == 1, run.stderr
        assert "rolled back" in run.stderr
        assert "environment record" in run.stderr or "lumidb" in run.stderr
        assert environment_row(db) == record
        assert snapshot(db) == before
    down = cli("migrate", "down", "--yes")
    assert down.exit_code == 3 and "production" in down.stderr


def test_other_schema_changed_by_backup_code_is_rolled_back(
    cli: Cli, db: DatabaseTarget, planted: tuple[Path, bytes]
) -> None:
    path, data = planted
    trap = (
        b"CREATE FUNCTION public.trap() RETURNS boolean LANGUAGE plpgsql AS $$\n"
        b"BEGIN EXECUTE 'CREATE TABLE lumidb.intruder (a int)'; RETURN true; END\n$$;\n"
        b"CREATE TABLE public.trapped (a integer CHECK (public.trap()));\n"
        b"COPY public.trapped (a) FROM stdin;\n1\n\\.\n"
    )
    at = before_table(data)
    plant(path, data[:at] + trap + data[at:])
    before = snapshot(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 1 and "schemas other than the target's changed: lumidb" in run.stderr
    assert snapshot(db) == before
    assert not sql(db, "SELECT to_regclass('lumidb.intruder')")[0][0]


OTHER_SCHEMA_TRICKS = [
    # a function the backup defines writes rows of another schema when it runs
    (
        b"CREATE FUNCTION public.evil() RETURNS integer LANGUAGE sql AS $$ "
        b"DELETE FROM audit.log; INSERT INTO audit.log VALUES ('pwned'); SELECT 1 $$;\n"
        b"CREATE TABLE public.evil_t AS SELECT public.evil() AS a;\n",
        "rows outside the target schema were written: audit.log",
    ),
    # names the allowlist cannot place in a schema (a comment, a space before the dot)
    (b"CREATE OR REPLACE VIEW /**/ audit.v AS SELECT 2::integer AS a;\n", "audit"),
    (b"CREATE OR REPLACE VIEW audit .v AS SELECT 2::integer AS a;\n", "audit"),
    (b"COMMENT ON TABLE audit.log IS 'pwned';\n", "audit"),
    (b"COMMENT ON COLUMN audit .log.a IS 'pwned';\n", "audit"),
]


@pytest.mark.parametrize(("code", "why"), OTHER_SCHEMA_TRICKS, ids=range(len(OTHER_SCHEMA_TRICKS)))
def test_another_schemas_rows_comments_and_views_are_rolled_back(
    cli: Cli, db: DatabaseTarget, planted: tuple[Path, bytes], code: bytes, why: str
) -> None:
    """Data, comments and view bodies of other schemas count as much as their tables."""
    sql(db, "CREATE SCHEMA audit")
    sql(db, "CREATE TABLE audit.log (a text)")
    sql(db, "INSERT INTO audit.log VALUES ('kept')")
    sql(db, "CREATE VIEW audit.v AS SELECT 1::integer AS a")
    path, data = planted
    at = before_table(data)
    plant(path, data[:at] + code + data[at:])
    before = snapshot(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code in (1, 2) and why in run.stderr, run.stderr
    assert snapshot(db) == before
    assert sql(db, "SELECT a FROM audit.log") == [("kept",)]
    assert sql(db, "SELECT a FROM audit.v") == [(1,)]
    assert sql(db, "SELECT obj_description('audit.log'::regclass, 'pg_class')") == [(None,)]
    assert sql(db, "SELECT col_description('audit.log'::regclass, 1)") == [(None,)]


def test_row_counts_must_match_the_manifest(
    cli: Cli, db: DatabaseTarget, planted: tuple[Path, bytes]
) -> None:
    path, _ = planted
    manifest_file = manifest_path_of(path)
    manifest = json.loads(manifest_file.read_text())
    manifest["row_counts"]["users"] += 1
    manifest_file.write_text(json.dumps(manifest))
    before = snapshot(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup")
    assert run.exit_code == 1 and "table users: the manifest says" in run.stderr, run.stderr
    assert snapshot(db) == before


def test_quoted_names_and_sql_looking_rows_round_trip(
    cli: Cli, db: DatabaseTarget, tmp_path: Path
) -> None:
    """Finding 5: a table name with a space; rows that look like SQL, quotes, meta-commands."""
    sql(db, 'CREATE TABLE public."order items" (id text PRIMARY KEY, "the note" text)')
    sql(
        db,
        """INSERT INTO public."order items" VALUES
           ('GRANT ALL ON users TO evil;', 'COMMIT;'), ('a', 'it''s "quoted"'),
           ('\\! touch /tmp/x', E'\\\\.\\nDROP DATABASE x;'), ('COPY x FROM stdin;', NULL)""",
    )
    seed(db)
    expected = snapshot(db)
    folder = tmp_path / "backups"
    path = backup(db, folder)
    manifest = json.loads(manifest_path_of(path).read_text())
    assert manifest["row_counts"]["order items"] == 4
    sql(db, 'DELETE FROM public."order items"')
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["rows"]["order items"] == 4
    assert snapshot(db) == expected


def test_full_pg_dump_with_the_lumidb_schema_skips_it(
    cli: Cli, db: DatabaseTarget, app_server: Any, tmp_path: Path
) -> None:
    """Finding 12: a full pg_dump (lumidb schema included) restores with --file, with a note."""
    from lumidb.pgtools import choose_client

    seed(db)
    expected = snapshot(db)
    record = environment_row(db)
    suite = choose_client(18, needs_ssl=False)
    dump = subprocess.run(
        [str(suite.program("pg_dump")), "--no-owner", f"--dbname={db.child_dsn()}"],
        env=db.child_env(),
        capture_output=True,
        check=True,
    ).stdout
    assert b"CREATE TABLE lumidb.environment" in dump and b"COPY lumidb.environment" in dump
    full = tmp_path / "full.sql"
    full.write_bytes(dump)
    sql(db, "DELETE FROM users")
    sql(db, "UPDATE lumidb.environment SET recorded_by = 'someone else'")
    record_now = environment_row(db)
    assert record_now != record
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--file", str(full))
    assert run.exit_code == 0, run.stderr
    assert "lumidb schema" in run.stderr
    assert snapshot(db) == expected
    assert environment_row(db) == record_now


def test_grants_of_another_role_survive_a_restore(
    cli: Cli, db: DatabaseTarget, app_server: Any, tmp_path: Path
) -> None:
    """Finding 13: a read-only role keeps SELECT on users after a restore."""
    import uuid

    role = f"reader_{uuid.uuid4().hex[:8]}"
    app_server.create_role(role, "reader-pw-1")
    try:
        sql(db, f"GRANT USAGE ON SCHEMA public TO {role}")
        sql(db, f"GRANT SELECT ON users TO {role}")
        seed(db)
        folder = tmp_path / "backups"
        backup(db, folder)
        cli.use(db)
        cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
        run = cli("restore-latest", "--yes", "--no-safety-backup")
        assert run.exit_code == 0, run.stderr
        params = {**db.conninfo_params("reader"), "user": role, "password": "reader-pw-1"}
        with psycopg.connect(**params) as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (5,)
    finally:
        with psycopg.connect(
            autocommit=True, **app_server.admin_target(db.dbname).conninfo_params()
        ) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_jobs_checks_the_archive_before_the_parallel_run(
    cli: Cli, db: DatabaseTarget, tmp_path: Path
) -> None:
    """A custom archive writing into another schema is refused before pg_restore --jobs."""
    from lumidb.pgtools import choose_client

    sql(db, "CREATE SCHEMA other; CREATE TABLE other.t (a int); INSERT INTO other.t VALUES (1)")
    suite = choose_client(18, needs_ssl=False)
    archive = tmp_path / "full.dump"
    subprocess.run(
        [
            str(suite.program("pg_dump")),
            "-Fc",
            "--no-owner",
            f"--file={archive}",
            f"--dbname={db.child_dsn()}",
        ],
        env=db.child_env(),
        check=True,
    )
    sql(db, "DELETE FROM other.t")
    before = snapshot(db)
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(tmp_path / "backups"))
    run = cli("restore-latest", "--yes", "--jobs", "2", "--file", str(archive))
    assert run.exit_code == 2 and "schema 'other'" in run.stderr, run.stderr
    assert snapshot(db) == before
    assert sql(db, "SELECT count(*) FROM other.t") == [(0,)]


def test_ctrl_c_after_commit_waits_for_psql_and_tells_the_truth(
    db: DatabaseTarget, tmp_path: Path
) -> None:
    """Finding 11 and 10: once COMMIT is sent, an interrupt waits for psql (and the lock too)."""
    folder = tmp_path / "backups"
    sql(
        db,
        """
        INSERT INTO users (id, email, password, name, "updatedAt")
        SELECT 'u' || g, 'u' || g || '@x.test', repeat('h', 60), 'name ' || g, now()
        FROM generate_series(1, 300000) g
        """,
    )
    backup(db, folder)
    expected = snapshot(db)
    sql(db, "DELETE FROM users WHERE id <> 'u1'")
    env = clean_env(DATABASE_URL=url_of(db), LUMIDB_BACKUP_DIR=str(folder))
    proc = subprocess.Popen(
        [LUMIDB, "restore-latest", "--yes", "--no-safety-backup"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    late = False
    with psycopg.connect(autocommit=True, **db.conninfo_params("lumidb tests")) as watcher:
        while time.monotonic() < deadline and proc.poll() is None and not late:
            late = bool(
                watcher.execute(
                    """SELECT 1 FROM pg_stat_activity
                       WHERE application_name = 'lumidb restore-latest' AND state = 'active'
                         AND (query LIKE 'ALTER TABLE ONLY%%' OR query LIKE 'CREATE%%INDEX%%')"""
                ).fetchall()
            )
            time.sleep(0.002)
    if not late:
        proc.communicate(timeout=60)
        pytest.skip("the restore was too fast to interrupt after COMMIT here")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    left = sql(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lumidb restore%%'",
    )
    assert left == [(0,)], "psql outlived lumidb (and its lock)"
    assert proc.returncode == 0, stderr
    assert b"after COMMIT was sent" in stderr and b"committed" in stderr
    assert b"rolled back" not in stderr
    assert snapshot(db) == expected


# --- the filter alone ---------------------------------------------------------------


def _filter() -> DumpFilter:
    return DumpFilter(
        known_settings=frozenset({"lock_timeout", "client_encoding"}),
        existing_schemas=frozenset({"public"}),
    )


def test_one_copy_header_parser_for_every_identifier() -> None:
    header = parse_copy_header(
        'COPY public."my ""odd"" table.x" (id, "a b", "é", "x,y") FROM stdin;'.encode()
    )
    assert header is not None
    assert header.schema == "public" and header.table == 'my "odd" table.x'
    assert header.columns == ("id", "a b", "é", "x,y")
    assert parse_copy_header(b"COPY public.t (a) TO PROGRAM 'id';") is None
    counter = CopyRowCounter()
    counter.feed(b'COPY public."order items" (id) FROM stdin;\nCOMMIT;\n\\.x\n\\.\r\n')
    assert counter.counts == {"order items": 2}


def test_filter_memory_is_bounded_on_a_50_mb_line() -> None:
    """Finding 9: one 50 MB COPY row, and one 50 MB SQL line, in 1 MB chunks."""
    chunk = 1 << 20
    for head, line, tail in (
        (b"COPY public.t (a) FROM stdin;\n", b"x" * (50 << 20) + b"\n", b"\\.\n"),
        (b"COMMENT ON TABLE public.t IS '", b"y" * (50 << 20), b"';\n"),
    ):
        f = _filter()
        tracemalloc.start()
        started = time.monotonic()
        f.feed(head)
        piece = line[:chunk]
        for _ in range(len(line) // chunk):
            f.feed(piece)
        f.feed(
            line[len(line) // chunk * chunk :] + tail + b"-- PostgreSQL database dump complete\n"
        )
        f.finish()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert f.complete and f.at_rest
        assert peak < 8 * chunk, f"peak {peak} bytes for a 50 MB line"
        assert time.monotonic() - started < 10


def test_filter_refuses_a_split_meta_command_at_any_chunk_size() -> None:
    dump = (
        b"SET client_encoding = 'UTF8';\n"
        b"CREATE TABLE public.t (a text DEFAULT E'it\\'s' -- c\n);\n"
        b"COPY public.t (a) FROM stdin;\n\\\\! x\n\\.\r\n"
        b"CREATE TABLE public.u (b text DEFAULT $a$ \\! $a$); \\! touch /tmp/x\n"
    )
    for size in range(1, 12):
        f = _filter()
        out = b""
        with pytest.raises(RefusedBackup, match=r"line 7 .*meta-command"):
            for i in range(0, len(dump), size):
                out += f.feed(dump[i : i + size])
        assert b"touch" not in out


@pytest.mark.parametrize(
    "statement",
    [
        b"CREATE TABLE public.t (a text DEFAULT E'x'\n'\\'' \\! id');\n",
        b"CREATE TABLE public.t (a text DEFAULT 1$a$ ' $a$); \\! id\n",
        b"CREATE FUNCTION public.f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\nEND;\n",
        b"SET standard_conforming_strings = off;\n",
        b"SET client_encoding = 'SJIS';\n",
        b"SELECT pg_catalog.lo_create('16386');\n",
        b"COMMENT ON TABLE U&\"\\0070ublic\".users IS 'x';\n",
        b"COMMENT ON TABLE public.users IS U&'\\0070';\n",
    ],
)
def test_filter_refuses_where_psql_would_lex_differently(statement: bytes) -> None:
    """Where psql's lexer and a simple one could disagree, the file is refused."""
    with pytest.raises(RefusedBackup, match="line 1 "):
        f = _filter()
        f.feed(statement)
        f.finish()


def test_restrict_where_psql_knows_it() -> None:
    from lumidb.restore_checks import restrict_line, restrict_supported

    assert restrict_supported("18.0") and restrict_supported("17.6") and restrict_supported("15.14")
    assert not restrict_supported("17.5") and not restrict_supported("15.13")
    assert not restrict_supported("12.22") and not restrict_supported("devel")
    line = restrict_line()
    assert line.startswith("\\restrict ") and line != restrict_line()
