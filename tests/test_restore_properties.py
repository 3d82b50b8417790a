"""Generated dumps through backup → restore (issue 12), with hypothesis, against the real server.

Round trip: tables with random (quoted, unicode, odd) names and rows that look like SQL,
meta-commands, COPY's end marker, or long lines come back identical. Hostile lines put
between the statements of a real dump are refused: exit 2, database unchanged, no file.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_restore import sql

from lumidb.backup import BackupOptions, create_backup
from lumidb.connection import DatabaseTarget, quote_ident
from lumidb.dump_stream import RefusedBackup
from lumidb.restore import RestoreOptions, plan_restore, restore
from lumidb.timespec import utc_now


def snapshot(target: DatabaseTarget) -> dict[str, tuple[int, str]]:
    """Every table of public: row count and a digest of all its rows (any table name)."""
    tables = [
        r[0] for r in sql(target, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    result = {}
    for table in tables:
        row = sql(
            target,
            "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
            f" FROM public.{quote_ident(table)} t",
        )[0]
        result[table] = (int(row[0]), str(row[1]))
    return result


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAME_CHARS = st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\x00\n\r", max_codepoint=0x2FFF
)
names = st.text(NAME_CHARS, min_size=1, max_size=12).filter(lambda n: n.strip() != "")
SQL_LOOKING = [
    "COMMIT;",
    "\\! touch /tmp/lumidb-pwned",
    "\\.",
    "\\.\r",
    "COPY x FROM stdin;",
    "DROP DATABASE lumiai;",
    "GRANT ALL ON users TO evil;",
    "-- PostgreSQL database dump complete",
    "$$; END; $$",
    "'\"",
    "\\restrict abc",
]
values = st.one_of(
    st.sampled_from(SQL_LOOKING),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
    st.integers(1, 300_000).map(lambda n: "L" * n),
    st.none(),
)


@SETTINGS
@given(
    table=names,
    columns=st.lists(names, min_size=1, max_size=3, unique_by=lambda n: n.lower()),
    rows=st.lists(st.lists(values, min_size=3, max_size=3), max_size=6),
)
def test_generated_tables_round_trip(
    db: DatabaseTarget, tmp_path: Path, table: str, columns: list[str], rows: list[list[str | None]]
) -> None:
    qualified = f"public.{quote_ident(table)}"
    sql(db, f"DROP TABLE IF EXISTS {qualified}")
    if table.lower() in {"users", "products", "alembic_version"}:
        return
    cols = [f"{quote_ident(c)} text" for c in columns]
    sql(db, f"CREATE TABLE {qualified} ({', '.join(cols)})")
    try:
        for row in rows:
            sql(
                db,
                f"INSERT INTO {qualified.replace('%', '%%')} "
                f"VALUES ({', '.join(['%s'] * len(columns))})",
                row[: len(columns)],
            )
        expected = snapshot(db)
        folder = tmp_path / uuid.uuid4().hex
        result = create_backup(db, BackupOptions(backup_dir=folder), now=utc_now())
        assert result.manifest.row_counts[table] == len(rows)
        sql(db, f"DELETE FROM {qualified}")
        options = RestoreOptions(backup_dir=folder, file=Path(result.path), safety_backup=False)
        restored = restore(db, plan_restore(db, options, now=utc_now()), options, now=utc_now())
        assert restored.rows[table] == len(rows)
        assert snapshot(db) == expected
    finally:
        sql(db, f"DROP TABLE IF EXISTS {qualified}")


META = ["!", "o", "w", "copy", "set", "i", "ir", "setenv", "gexec", "g", "c", "connect", "unset"]
WORDS = ["BEGIN", "COMMIT", "ROLLBACK", "END", "ABORT", "SAVEPOINT s", "PREPARE TRANSACTION 'x'"]
OTHERS = [
    "DROP DATABASE lumidb_template",
    "DROP SCHEMA lumidb CASCADE",
    "DELETE FROM lumidb.environment",
    "ALTER DATABASE lumiai SET search_path = evil",
    "ALTER ROLE lumiai SUPERUSER",
    "CREATE ROLE evil",
    "ALTER SYSTEM SET fsync = off",
    "DO $x$BEGIN NULL; END$x$",
    "COPY public.users TO '{marker}'",
    "COPY public.users FROM PROGRAM 'touch {marker}'",
    "SELECT pg_catalog.lo_export(1, '{marker}')",
    "SELECT pg_catalog.pg_ls_dir('.')",
    "SET standard_conforming_strings = off",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "SELECT 1",
    "INSERT INTO public.users (id) VALUES ('x')",
    "CREATE TABLE public.h (a text DEFAULT pg_read_file('/etc/passwd'))",
]


def _cased(word: str, flips: list[bool]) -> str:
    return "".join(
        c.lower() if f else c for c, f in zip(word, flips + [False] * len(word), strict=False)
    )


hostile = st.one_of(
    st.builds(
        lambda cmd, spaces: f"{' ' * spaces}\\{cmd} {{marker}}",
        st.sampled_from(META),
        st.integers(0, 2),
    ),
    st.builds(
        lambda word, flips: _cased(word, flips) + ";",
        st.sampled_from(WORDS),
        st.lists(st.booleans(), max_size=8),
    ),
    st.sampled_from(OTHERS).map(lambda s: s + ";"),
    st.sampled_from(META).map(lambda cmd: f"CREATE TABLE public.h (a int); \\{cmd} {{marker}}"),
)


@pytest.fixture
def real_dump(db: DatabaseTarget, tmp_path: Path) -> bytes:
    from test_restore import seed

    seed(db)
    result = create_backup(
        db, BackupOptions(backup_dir=tmp_path / "dump", compression="none"), now=utc_now()
    )
    return Path(result.path).read_bytes()


@SETTINGS
@given(line=hostile, where=st.integers(0, 10_000))
def test_generated_hostile_lines_are_refused(
    db: DatabaseTarget, tmp_path: Path, real_dump: bytes, line: str, where: int
) -> None:
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    boundaries = [i + 1 for i in range(len(real_dump)) if real_dump.startswith(b"\n--\n", i)]
    at = boundaries[where % len(boundaries)]
    data = real_dump[:at] + line.replace("{marker}", str(marker)).encode() + b"\n" + real_dump[at:]
    planted = tmp_path / f"backup-{uuid.uuid4().hex}.sql"
    planted.write_bytes(data)
    before = snapshot(db)
    options = RestoreOptions(backup_dir=tmp_path, file=planted, safety_backup=False)
    line_number = data[:at].count(b"\n") + 1
    with pytest.raises(RefusedBackup, match=f"line {line_number} "):
        restore(db, plan_restore(db, options, now=utc_now()), options, now=utc_now())
    assert not marker.exists()
    assert snapshot(db) == before
    assert sql(db, "SELECT 1 FROM pg_database WHERE datname = 'lumidb_template'")
