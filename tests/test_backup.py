"""``lumidb backup`` and ``lumidb backups``: real server, real pg_dump, real files."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import zstandard
from conftest import APP_PASSWORD, LUMIDB, Cli, CommandLineWatcher, clean_env, url_of
from psycopg import sql
from test_backup_store import fake_backup, write_manifest

from lumidb import backup_read, backup_store
from lumidb.backup import BackupOptions, create_backup
from lumidb.connection import DatabaseTarget
from lumidb.listing import list_backup_summaries
from lumidb.pgtools import choose_client
from lumidb.prune import prune_backups
from lumidb.storage.local import LOCK_NAME, partial_path_of
from lumidb.timespec import utc_now

NAME_RE = re.compile(r"^t_[0-9a-f]{12}-\d{8}T\d{6}\.\d{3}Z\.(sql\.zst|sql\.gz|sql|dump)$")


def add_rows(target: DatabaseTarget, users: int = 3, products: int = 4, orders: int = 2) -> None:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        conn.execute(
            """INSERT INTO users (id, email, password, "updatedAt")
            SELECT 'u' || i, 'u' || i || '@x.test', 'hash', now() FROM generate_series(1, %s) i""",
            (users,),
        )
        conn.execute(
            """INSERT INTO products (id, sku, name, category, type, description, detail, price,
            "updatedAt") SELECT 'p' || i, 'SKU' || i, E'tab\\there\\nnewline \\\\. x', 'MAKEUP',
            'lip', 'd', 'd', 9.99, now() FROM generate_series(1, %s) i""",
            (products,),
        )
        conn.execute(
            """INSERT INTO orders (id, "orderNumber", "userId", subtotal, tax, shipping, total,
            "updatedAt") SELECT 'o' || i, 'N' || i, 'u1', 1, 0, 0, 1, now()
            FROM generate_series(1, %s) i""",
            (orders,),
        )


def real_counts(target: DatabaseTarget) -> dict[str, int]:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        counts = {}
        for name in names:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(name))
            ).fetchone()
            assert row is not None
            counts[name] = row[0]
    return counts


def execute(target: DatabaseTarget, statement: str) -> None:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def leftovers(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME)


def assert_no_password_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.name.endswith(".zst"):
                data = zstandard.ZstdDecompressor().stream_reader(data).read()
            elif path.name.endswith(".gz"):
                data = gzip.decompress(data)
            assert APP_PASSWORD.encode() not in data, path


# --- the command, in process ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "compress", "ext"),
    [
        ("plain", "zstd", ".sql.zst"),
        ("plain", "gzip", ".sql.gz"),
        ("plain", "none", ".sql"),
        ("custom", "zstd", ".dump"),
    ],
)
def test_backup_formats_manifest_and_row_counts(
    cli: Cli, db: DatabaseTarget, fmt: str, compress: str, ext: str
) -> None:
    add_rows(db)
    cli.use(db)
    run = cli("backup", "--format", fmt, "--compress", compress, "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    path = Path(doc["path"])
    manifest = doc["manifest"]
    assert path.name.endswith(ext) and NAME_RE.match(path.name), path.name
    assert path.parent == cli.workdir / "backups"
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    manifest_file = backup_store.manifest_path_of(path)
    assert manifest_file.stat().st_mode & 0o777 == 0o600
    data = path.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["size"] == len(data)
    assert manifest["file"] == path.name
    assert manifest["format"] == fmt
    assert manifest["compression"] == ("none" if fmt == "custom" else compress)
    assert manifest["kind"] == "backup"
    assert manifest["database"] == db.dbname and manifest["schema"] == "public"
    assert manifest["host"] == db.host and manifest["port"] == db.port
    assert manifest["server_version"].startswith("18.")
    assert manifest["pg_dump_version"].startswith("18.")
    assert manifest["alembic_revision"] == "0001"
    assert manifest["environment"] == "development"
    assert manifest["started_at"] <= manifest["finished_at"]
    counts = real_counts(db)
    assert counts["users"] == 3 and counts["products"] == 4 and counts["orders"] == 2
    assert manifest["row_counts"] == counts
    if fmt == "custom":
        listing = subprocess.run(
            [str(choose_client(18, needs_ssl=False).program("pg_restore")), "--list", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "TABLE DATA public users" in listing.stdout
        assert "lumidb" not in listing.stdout.replace("lumidb_", "")
    else:
        if compress == "zstd":
            text = zstandard.ZstdDecompressor().stream_reader(data).read()
        elif compress == "gzip":
            text = gzip.decompress(data)
        else:
            text = data
        assert b"PostgreSQL database dump complete" in text
        assert b"ALTER TABLE public.users OWNER" not in text and b"GRANT " not in text
        assert b"lumidb.environment" not in text
    entry = backup_store.load_entry(path)
    assert backup_read.checksum_matches(entry) is True
    assert APP_PASSWORD not in run.stdout + run.stderr
    assert_no_password_in(path.parent)


def test_existing_loose_dir_warns_and_quiet_is_silent(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    loose = cli.workdir / "backups"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    (loose / ".t_x-20260101T000000.000Z.sql.zst.partial").write_bytes(b"left by a killed run")
    (loose / "backup-2024-11-24.sql").write_text("-- an old script's backup\n")
    run = cli("backup", "--quiet")
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    assert "readable by others" in run.stderr  # it holds backups: lumidb leaves its mode alone
    names = leftovers(loose)
    assert len(names) == 3 and not any(n.endswith(".partial") for n in names)
    human = cli("backup")
    assert human.exit_code == 0 and "backup written" in human.stdout


def test_bad_input_exit_codes(cli: Cli, db: DatabaseTarget, tmp_path: Path) -> None:
    cli.use(db)
    assert cli("backup", "--format", "tar").exit_code == 2
    assert cli("backup", "--compress", "lz4").exit_code == 2
    cli.use(replace(db, password="wrong-password"))
    run = cli("backup")
    assert run.exit_code == 1 and "password authentication failed" in run.stderr
    assert "wrong-password" not in run.stderr
    cli.use(replace(db, port=1))
    run = cli("backup")
    assert run.exit_code == 1 and "cannot connect" in run.stderr
    assert leftovers(cli.workdir / "backups") == []
    cli.use(db)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cli.setenv("LUMIDB_BACKUP_DIR", str(blocker / "backups"))
    run = cli("backup")
    assert run.exit_code == 2 and "backup directory" in run.stderr


def test_second_backup_exits_3_and_wait_waits(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    folder = cli.workdir / "backups"
    with backup_store.backup_dir_lock(folder, wait=False):
        started = time.monotonic()
        run = cli("backup")
        assert run.exit_code == 3
        assert "another lumidb backup is running" in run.stderr
        assert time.monotonic() - started < 5
    assert leftovers(folder) == []
    holding = threading.Event()
    release_at: list[float] = []

    def hold() -> None:
        with backup_store.backup_dir_lock(folder, wait=False):
            holding.set()
            time.sleep(0.6)
            release_at.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    run = cli("backup", "--wait", "--quiet")
    finished = time.monotonic()
    holder.join()
    assert run.exit_code == 0, run.stderr
    assert finished >= release_at[0]
    assert len(backup_store.list_backups(folder)) == 1


def test_keep_deletes_oldest_of_the_same_kind(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    folder = cli.workdir / "backups"
    safety = create_backup(db, BackupOptions(backup_dir=folder, kind="safety"), now=utc_now())
    assert Path(safety.path).parent == folder / "safety"
    assert safety.manifest.kind == "safety"
    first = cli("backup", "--json").json()["path"]
    second = cli("backup", "--json").json()["path"]
    doc = cli("backup", "--keep", "2", "--json").json()
    assert doc["pruned"] == [first]
    kept = [str(e.path) for e in backup_store.list_backups(folder, kinds={"backup"})]
    assert kept == [doc["path"], second]
    cli.setenv("LUMIDB_BACKUP_KEEP", "1")
    doc = cli("backup", "--json").json()
    assert sorted(doc["pruned"]) == sorted([doc_path for doc_path in kept])
    assert [str(e.path) for e in backup_store.list_backups(folder)] == [doc["path"], safety.path]


def test_list_json_and_missing_dir(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("backups", "list", "--json")
    assert run.exit_code == 0 and run.json()["backups"] == []
    assert "no backups" in cli("backups", "list").stdout
    folder = cli.workdir / "backups"
    made = cli("backup", "--json").json()["path"]
    safety = create_backup(db, BackupOptions(backup_dir=folder, kind="safety"), now=utc_now()).path
    legacy = folder / "backup-2024-05-01T10:00:00.000Z.sql"
    legacy.write_text("-- old script\n")
    os.utime(legacy, (1_700_000_000, 1_700_000_000))
    (folder / ".x.sql.zst.partial").write_bytes(b"junk")
    doc = cli("backups", "list", "--json").json()
    assert doc["version"] == 1 and doc["kind"] == "backup_listing"
    items = doc["backups"]
    assert [i["file"] for i in items] == [safety, made, str(legacy)]
    assert [i["backup_kind"] for i in items] == ["safety", "backup", "legacy"]
    assert [i["checksum"] for i in items] == ["unchecked", "unchecked", "none"]
    checked = cli("backups", "list", "--check", "--json").json()["backups"]
    assert [i["checksum"] for i in checked] == ["ok", "ok", "none"]
    assert set(items[0]) == {
        "file",
        "backup_kind",
        "database",
        "started_at",
        "age_seconds",
        "size",
        "format",
        "compression",
        "alembic_revision",
        "checksum",
    }
    assert items[1]["alembic_revision"] == "0001" and items[1]["format"] == "plain"
    cli.setenv("COLUMNS", "160")  # wide enough that no column is dropped, whatever the names
    table = cli("backups", "list").stdout
    assert "safety" in table and "legacy" in table


def test_list_compares_sizes_and_hashes_only_with_check(cli: Cli, db: DatabaseTarget) -> None:
    """Without --check nothing but the manifests is read: a truncated backup is a mismatch by
    its size; same-size damage shows only with --check (and in verify)."""
    cli.use(db)
    first = Path(cli("backup", "--json").json()["path"])
    second = Path(cli("backup", "--json").json()["path"])
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    first.write_bytes(bytes(data))
    second.write_bytes(second.read_bytes()[:-10])  # truncated

    def states(*flags: str) -> dict[str, str]:
        items = cli("backups", "list", *flags, "--json").json()["backups"]
        return {item["file"]: item["checksum"] for item in items}

    assert states() == {str(first): "unchecked", str(second): "mismatch"}
    assert states("--check") == {str(first): "mismatch", str(second): "mismatch"}
    cli.setenv("COLUMNS", "160")
    assert "unchecked" in cli("backups", "list").stdout


def at(text: str) -> datetime:
    """A fixed UTC time from ``2026-11-23T12:00``-style text (tests never read the clock)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def kept_times(folder: Path, **options: int) -> set[str]:
    """The start times (UTC, as ``YYYY-MM-DDTHH:MM:SS.mmm``) that a dry-run prune keeps."""
    plan = prune_backups(folder, now=at("2027-06-01T00:00"), dry_run=True, **options)
    assert plan.deleted == []
    return {str(item.started_at).removesuffix("Z") for item in plan.keep}


def daily_noon_backups(folder: Path, newest: str, days: int) -> None:
    """One backup at 12:00 UTC on each of ``days`` days up to ``newest``, one at 06:00 that day."""
    last = at(newest + "T12:00")
    for back in range(days):
        fake_backup(folder, last - timedelta(days=back))
    fake_backup(folder, at(newest + "T06:00"))


# Days are UTC days and weeks ISO weeks (Monday to Sunday). The week of 2026-11-23 (Mon)
# is 2026-W48; its newest backup is on the newest day, the two weeks before keep Sunday's.
@pytest.mark.parametrize(
    ("newest", "kept"),
    [
        ("2026-11-23", {"2026-11-23", "2026-11-22", "2026-11-21", "2026-11-15"}),  # Monday
        ("2026-11-24", {"2026-11-24", "2026-11-23", "2026-11-22", "2026-11-15"}),  # Tuesday
        ("2026-11-25", {"2026-11-25", "2026-11-24", "2026-11-23", "2026-11-22", "2026-11-15"}),
        ("2026-11-26", {"2026-11-26", "2026-11-25", "2026-11-24", "2026-11-22", "2026-11-15"}),
        ("2026-11-27", {"2026-11-27", "2026-11-26", "2026-11-25", "2026-11-22", "2026-11-15"}),
        ("2026-11-28", {"2026-11-28", "2026-11-27", "2026-11-26", "2026-11-22", "2026-11-15"}),
        # Sunday: 14 days reach back to Monday 2026-11-16, so only two weeks have backups.
        ("2026-11-29", {"2026-11-29", "2026-11-28", "2026-11-27", "2026-11-22"}),
    ],
    ids=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
)
def test_prune_keeps_days_and_iso_weeks_on_every_weekday(
    tmp_path: Path, newest: str, kept: set[str]
) -> None:
    daily_noon_backups(tmp_path, newest, days=14)
    assert kept_times(tmp_path, keep_last=1, keep_daily=3, keep_weekly=3) == {
        f"{day}T12:00:00.000" for day in kept
    }


@pytest.mark.parametrize(
    ("times", "options", "kept"),
    [
        pytest.param(
            [
                "2026-10-30T23:00:00",
                "2026-10-31T22:00:00",
                "2026-10-31T23:59:59.999",
                "2026-11-01T00:00:00",
                "2026-11-01T00:30:00",
            ],
            {"keep_last": 1, "keep_daily": 3, "keep_weekly": 0},
            {"2026-11-01T00:30:00.000", "2026-10-31T23:59:59.999", "2026-10-30T23:00:00.000"},
            id="month-end-and-midnight",
        ),
        pytest.param(
            [
                "2026-12-30T12:00:00",
                "2026-12-31T12:00:00",
                "2026-12-31T23:59:59.999",
                "2027-01-01T00:00:00",
                "2027-01-01T08:00:00",
            ],
            {"keep_last": 1, "keep_daily": 4, "keep_weekly": 0},
            {"2027-01-01T08:00:00.000", "2026-12-31T23:59:59.999", "2026-12-30T12:00:00.000"},
            id="year-end-days",
        ),
        # 2026-12-28 (Mon) to 2027-01-03 (Sun) is ISO week 2026-W53; 2027-01-04 starts 2027-W01.
        pytest.param(
            [
                "2026-12-24T12:00:00",
                "2026-12-27T12:00:00",
                "2026-12-28T12:00:00",
                "2026-12-31T12:00:00",
                "2027-01-01T12:00:00",
                "2027-01-03T23:59:59.999",
                "2027-01-04T00:00:00",
            ],
            {"keep_last": 1, "keep_daily": 0, "keep_weekly": 3},
            {"2027-01-04T00:00:00.000", "2027-01-03T23:59:59.999", "2026-12-27T12:00:00.000"},
            id="iso-week-53",
        ),
        pytest.param(
            ["2026-12-31T12:00:00", "2027-01-01T12:00:00"],
            {"keep_last": 1, "keep_daily": 0, "keep_weekly": 1},
            {"2027-01-01T12:00:00.000"},
            id="dec-31-and-jan-1-share-week-53",
        ),
    ],
)
def test_prune_at_month_and_year_ends(
    tmp_path: Path, times: list[str], options: dict[str, int], kept: set[str]
) -> None:
    for text in times:
        fake_backup(tmp_path, at(text))
    assert kept_times(tmp_path, **options) == kept


def test_prune_days_are_utc_whatever_offset_a_manifest_carries(tmp_path: Path) -> None:
    fake_backup(tmp_path, at("2026-11-27T00:10"))
    fake_backup(tmp_path, at("2026-11-26T10:00"))
    # 05:00 in India on the 27th is 23:30 UTC on the 26th: the 26th's newest backup.
    india = fake_backup(tmp_path, at("2026-11-26T23:30"))
    manifest = backup_store.manifest_path_of(india)
    doc = json.loads(manifest.read_text())
    doc["started_at"] = "2026-11-27T05:00:00.000+05:30"
    manifest.write_text(json.dumps(doc))
    assert kept_times(tmp_path, keep_last=1, keep_daily=2) == {
        "2026-11-27T00:10:00.000",
        "2026-11-26T23:30:00.000",
    }


def test_prune_keeps_the_newest_good_backup_and_groups_by_database(cli: Cli) -> None:
    folder = cli.workdir / "backups"
    newest = at("2026-11-26T12:00")
    made = [fake_backup(folder, newest - timedelta(days=d)) for d in range(10)]
    other_db = fake_backup(folder, newest - timedelta(days=30), database="other")
    safety = fake_backup(folder / "safety", newest - timedelta(days=40), kind="safety")
    # the two newest are damaged: the newest good one must stay whatever the options say
    for path in made[:2]:
        path.write_bytes(b"damaged")
    run = cli("backups", "prune", "--keep-last", "2", "--keep-daily", "1", "--dry-run", "--json")
    assert run.exit_code == 0, run.stderr
    plan = run.json()
    assert plan["deleted"] == [] and plan["dry_run"] is True
    assert all(p.exists() for p in made)
    kept = {item["file"]: item["reason"] for item in plan["keep"]}
    assert kept == {
        str(made[0]): "last, daily",
        str(made[1]): "last",
        str(made[2]): "newest good",
        str(other_db): "last, daily",
        str(safety): "last",  # safety backups follow their own rule
    }
    assert sorted(item["file"] for item in plan["delete"]) == sorted(str(p) for p in made[3:])
    human = cli("backups", "prune", "--keep-last", "2", "--keep-daily", "1", "--dry-run")
    assert "would delete" in human.stdout
    run = cli("backups", "prune", "--keep-last", "2", "--keep-daily", "1")
    assert run.exit_code == 0 and "deleted" in run.stdout
    remaining = {str(e.path) for e in backup_store.list_backups(folder)}
    assert remaining == set(kept)
    assert cli("backups", "prune", "--keep-last", "0").exit_code == 2


def test_listing_ages_are_measured_from_the_given_time(tmp_path: Path) -> None:
    fake_backup(tmp_path, at("2026-11-25T12:00"))
    legacy = tmp_path / "backup-2026-11-20T00:00:00.000Z.sql"
    legacy.write_text("-- old script\n")
    stamp = at("2026-11-20T00:00").timestamp()
    os.utime(legacy, (stamp, stamp))
    listing = list_backup_summaries(tmp_path, now=at("2026-11-27T12:00"))
    assert [item.age_seconds for item in listing.backups] == [2 * 86400, 7.5 * 86400]


def test_verify_command_and_backup_verify(cli: Cli, db: DatabaseTarget) -> None:
    add_rows(db)
    cli.use(db)
    run = cli("backup", "--verify", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["verification"]["differences"] == []
    path = Path(run.json()["path"])
    assert cli("backups", "verify").exit_code == 0
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    run = cli("backups", "verify", str(path))
    assert run.exit_code == 1


# --- the installed program, as a subprocess -------------------------------------------


def test_file_size_limit_fails_cleanly(db: DatabaseTarget, tmp_path: Path) -> None:
    execute(
        db, "CREATE TABLE filler AS SELECT i, md5(i::text) AS t FROM generate_series(1, 5000) i"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    for fmt in ("plain", "custom"):
        done = subprocess.run(
            [LUMIDB, "backup", "--format", fmt, "--compress", "none"],
            cwd=tmp_path,
            env=clean_env(DATABASE_URL=url_of(db)),
            preexec_fn=limit,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert "no backup was kept" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert leftovers(tmp_path / "backups") == []


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_ctrl_c_mid_dump_leaves_nothing(db: DatabaseTarget, tmp_path: Path) -> None:
    execute(
        db,
        "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 4) AS t "
        "FROM generate_series(1, 200000) i",
    )
    folder = tmp_path / "backups"
    proc = subprocess.Popen(
        [LUMIDB, "backup", "--compress", "none"],
        cwd=tmp_path,
        env=clean_env(DATABASE_URL=url_of(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    stopped: list[psutil.Process] = []
    while time.monotonic() < deadline and not stopped:
        partials = list(folder.glob(".*.partial")) if folder.exists() else []
        if partials and partials[0].stat().st_size > 0:
            for child in _children(proc.pid):
                if _name(child) == "pg_dump":
                    child.suspend()  # hold pg_dump mid-dump, so Ctrl-C lands during it
                    stopped.append(child)
        time.sleep(0.002)
    assert stopped, "pg_dump finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    assert "interrupted" in stderr
    assert leftovers(folder) == []
    assert not stopped[0].is_running() or stopped[0].status() == psutil.STATUS_ZOMBIE


def test_no_password_in_any_argv(db: DatabaseTarget, tmp_path: Path) -> None:
    def dumping(line: str) -> bool:
        return "pg_dump" in line and "--no-owner" in line

    with CommandLineWatcher() as argv:
        # pg_dump waits for this lock, so the watcher sees it for sure
        with psycopg.connect(**db.conninfo_params()) as conn:
            conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            proc = subprocess.Popen(
                [LUMIDB, "backup", "--json"],
                cwd=tmp_path,
                env=clean_env(DATABASE_URL=url_of(db)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 30
            while not argv.saw(dumping) and time.monotonic() < deadline:
                time.sleep(0.01)
            conn.rollback()
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert argv.saw(dumping) and argv.leaks == []
    assert APP_PASSWORD not in stdout + stderr
    assert_no_password_in(tmp_path / "backups")


# --- PostgreSQL 15 over TLS ----------------------------------------------------------


@pytest.mark.pg15
def test_backup_from_pg15_over_ssl_uses_debian_client(cli: Cli, pg15: Any) -> None:
    role, password = "backup_tls", "tls-Secret-pw-3X"
    with contextlib.suppress(psycopg.errors.DuplicateObject):
        pg15.create_role(role, password)
    name = f"bk_{os.getpid()}"
    pg15.create_database(name, owner=role)
    try:
        target = replace(pg15.admin_target(name, sslmode="require"), user=role, password=password)
        execute(target, "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2)")
        cli.use(target)
        run = cli("backup", "--json")
        assert run.exit_code == 0, run.stderr
        manifest = run.json()["manifest"]
        assert manifest["pg_dump_version"].startswith("15.")
        assert manifest["server_version"].startswith("15.")
        assert manifest["row_counts"] == {"items": 2}
        assert manifest["alembic_revision"] is None
        assert password not in run.stdout + run.stderr
    finally:
        pg15.drop_database(name)


def test_whitespace_in_a_url_value_cannot_retarget_pg_dump(
    cli: Cli, db: DatabaseTarget, empty_db: DatabaseTarget
) -> None:
    """A tab in a parameter's value (``%09``) must stay inside that value: unquoted, it
    would end it in pg_dump's conninfo and ``dbname=`` would name another database."""
    add_rows(db, users=2, products=0, orders=0)
    execute(empty_db, "CREATE TABLE public.users (id text PRIMARY KEY)")
    execute(empty_db, "INSERT INTO public.users VALUES ('other-database-row')")
    for injected in (f"none%09dbname%3D{empty_db.dbname}", f"x%27%20dbname%3D{empty_db.dbname}"):
        cli.use(db, sslcrl=injected)
        run = cli("backup", "--compress", "none", "--json")
        assert run.exit_code == 0, run.stderr
        manifest = run.json()["manifest"]
        assert manifest["database"] == db.dbname
        assert manifest["row_counts"]["users"] == 2
        text = Path(run.json()["path"]).read_bytes()
        assert b"u1@x.test" in text and b"other-database-row" not in text
    # psql, too, restores into the database the URL names, and only there.
    restored = cli("restore-latest", "--yes", "--no-safety-backup")
    assert restored.exit_code == 0, restored.stderr
    assert real_counts(db)["users"] == 2
    assert real_counts(empty_db) == {"users": 1}


class FolderEvents:
    """The names renamed into a folder, in the kernel's order (inotify, IN_MOVED_TO)."""

    IN_MOVED_TO = 0x80
    IN_NONBLOCK = 0o4000

    def __init__(self, folder: Path) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(self.IN_NONBLOCK)
        assert self.fd >= 0
        assert self._libc.inotify_add_watch(self.fd, bytes(folder), self.IN_MOVED_TO) >= 0

    def moved_in(self) -> list[str]:
        import struct

        names: list[str] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            pos = 0
            while pos < len(data):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, pos)
                raw = data[pos + 16 : pos + 16 + length]
                names.append(raw.rstrip(b"\0").decode())
                pos += 16 + length
        os.close(self.fd)
        return names


@pytest.mark.parametrize("fmt", ["plain", "custom"])
def test_manifest_is_in_place_before_the_data_file(
    db: DatabaseTarget, tmp_path: Path, fmt: str
) -> None:
    """A kill between the two renames must not leave a complete data file without a
    manifest (which nothing lists or cleans): the manifest comes first, and a manifest
    without its data file is not a backup and is cleaned by the next run."""
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    events = FolderEvents(folder)
    result = create_backup(db, BackupOptions(backup_dir=folder, format=fmt), now=utc_now())
    path = Path(result.path)
    moved = events.moved_in()
    assert path.name in moved and backup_store.manifest_path_of(path).name in moved
    assert moved.index(backup_store.manifest_path_of(path).name) < moved.index(path.name)


def test_next_backup_cleans_what_a_killed_run_left(db: DatabaseTarget, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    # A run killed after its manifest was in place, before the data file's rename.
    stray = folder / f"{db.dbname}-20261124T143800.482Z.sql.zst"
    write_manifest(stray, {"file": stray.name, "database": db.dbname})
    partial_path_of(stray).write_bytes(b"complete but never renamed")
    # A retention run killed between deleting a data file and its manifest.
    deleted = folder / f"{db.dbname}-20261120T000000.000Z.dump"
    write_manifest(deleted, {"file": deleted.name})
    legacy = folder / "backup-2024-01-01T00:00:00.sql"
    legacy.write_bytes(b"-- an old script's backup\n")
    notes = folder / "notes.manifest.json"
    notes.write_text("{}")  # not a lumidb backup name: left alone
    create_backup(db, BackupOptions(backup_dir=folder), now=utc_now())
    names = leftovers(folder)
    assert legacy.name in names and notes.name in names
    for gone in (stray, deleted):
        assert backup_store.manifest_path_of(gone).name not in names
    assert not any(n.endswith(".partial") for n in names)
    assert len(names) == 4  # the new pair, the legacy file, the notes


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_pg_dump_dies_with_a_killed_lumidb(db: DatabaseTarget, tmp_path: Path, fmt: str) -> None:
    """``kill -9`` of lumidb mid-dump must not leave pg_dump running (here it waits on a
    table lock, so it would wait for as long as the lock is held)."""
    with psycopg.connect(**db.conninfo_params()) as conn:
        conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [LUMIDB, "backup", "--format", fmt],
            cwd=tmp_path,
            env=clean_env(DATABASE_URL=url_of(db)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            dumps: list[psutil.Process] = []
            deadline = time.monotonic() + 30
            while not dumps and time.monotonic() < deadline:
                dumps = [c for c in _children(proc.pid) if _name(c) == "pg_dump"]
                time.sleep(0.01)
            assert dumps, "pg_dump did not start"
            time.sleep(0.3)  # pg_dump is now waiting for the lock
        finally:
            proc.kill()
            proc.wait()
        gone_by = time.monotonic() + 5
        while time.monotonic() < gone_by and _alive(dumps[0]):
            time.sleep(0.05)
        alive = _alive(dumps[0])
        conn.rollback()
    if alive:
        dumps[0].kill()
    assert not alive, "pg_dump outlived the lumidb that started it"


def _name(process: psutil.Process) -> str | None:
    """A process's name, or None when it has just exited (psutil may then raise either)."""
    try:
        return process.name()
    except (psutil.Error, OSError):
        return None


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return False


# --- messages that say what went wrong ---------------------------------------------


def test_pg_dump_failure_shows_its_cause_not_its_detail(
    cli: Cli, db: DatabaseTarget, app_server: Any
) -> None:
    """pg_dump prints ``error: query failed: ERROR: permission denied ...`` and then a
    ``detail: Query was: LOCK TABLE ...`` line: the cause is the error line."""
    admin = app_server.admin_target(db.dbname)
    execute(admin, "CREATE TABLE public.locked_away (id int)")
    cli.use(db)
    run = cli("backup")
    assert run.exit_code == 1
    assert "permission denied" in run.stderr and "locked_away" in run.stderr
    assert "Query was" not in run.stderr
    assert leftovers(cli.workdir / "backups") == []


NOCREATEDB_ROLE = "lumidb_nocreatedb"
NOCREATEDB_PASSWORD = "verify-Role-pw-3K"


def test_verify_without_createdb_says_what_it_needs(
    cli: Cli, db: DatabaseTarget, app_server: Any, tmp_path: Path
) -> None:
    with psycopg.connect(autocommit=True, **app_server.admin_target().conninfo_params()) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (NOCREATEDB_ROLE,)
        ).fetchone():
            app_server.create_role(NOCREATEDB_ROLE, NOCREATEDB_PASSWORD)
    path = create_backup(db, BackupOptions(backup_dir=tmp_path / "b"), now=utc_now()).path
    cli.use(replace(db, user=NOCREATEDB_ROLE, password=NOCREATEDB_PASSWORD))
    run = cli("backups", "verify", path)
    assert run.exit_code == 2, run.stderr
    assert "CREATEDB" in run.stderr and "unexpected" not in run.stderr
    assert NOCREATEDB_ROLE in run.stderr


def test_a_manifest_dated_in_the_future_says_so(cli: Cli, db: DatabaseTarget) -> None:
    folder = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    future = datetime(2999, 1, 1, tzinfo=UTC)  # after any clock this test runs on
    fake_backup(folder, future, database=db.dbname)
    listing = cli("backups", "list")
    assert listing.exit_code == 0, listing.stderr
    assert "in the future" in listing.stdout
    cli.use(db)
    plan = cli("restore-latest")  # a future-dated backup never wins: nothing to restore
    assert plan.exit_code == 1, plan.stderr
    assert "1 dated in the future, skipped" in plan.stderr
    assert not re.search(r"-\d+[smhd]", plan.stdout + plan.stderr)
    assert not re.search(r"-\d+[smhd]\b", listing.stdout)


def test_backup_refuses_a_linked_lock_file(cli: Cli, db: DatabaseTarget, tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("precious contents\n")
    folder = cli.workdir / "backups"
    folder.mkdir(mode=0o700)
    (folder / LOCK_NAME).symlink_to(victim)
    cli.use(db)
    run = cli("backup")
    assert run.exit_code == 2 and "symbolic link" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert victim.read_text() == "precious contents\n"
    assert leftovers(folder) == []


def test_safety_backups_keep_the_newest_five_and_a_week_never_more_than_twenty(
    tmp_path: Path,
) -> None:
    from lumidb.retention import SafetyRetention

    safety = tmp_path / "safety"
    now = at("2026-11-27T12:00")
    # 30 safety copies of lumiai, one every 8 hours (the last 7 days hold 21), 3 of another db
    made = [fake_backup(safety, now - timedelta(hours=8 * i), kind="safety") for i in range(30)]
    other = [
        fake_backup(safety, now - timedelta(days=60 + i), kind="safety", database="other")
        for i in range(3)
    ]
    plan = prune_backups(tmp_path, keep_last=1, now=now, dry_run=True)
    kept = {item.file: item.reason for item in plan.keep}
    assert {item.backup_kind for item in plan.keep} == {"safety"}
    assert [str(p) for p in made[:20]] == [f for f in kept if f.startswith(str(safety / "lumiai"))]
    assert kept[str(made[0])] == "last, newer than 7d"
    assert kept[str(made[19])] == "newer than 7d"
    assert all(kept[str(p)] == "last" for p in other)  # old, but the newest of their database
    plan = prune_backups(
        tmp_path,
        keep_last=1,
        safety_retention=SafetyRetention(keep_last=2, keep_days=1, max_count=20),
        now=now,
    )
    left = {str(e.path) for e in backup_store.list_backups(tmp_path)}
    assert left == {str(p) for p in made[:4]} | {str(p) for p in other[:2]}  # 1 day = 4 copies
    assert sorted(plan.deleted) == sorted(str(p) for p in made[4:] + other[2:])


def test_each_safety_backup_prunes_older_ones(db: DatabaseTarget, tmp_path: Path) -> None:
    from lumidb.retention import SafetyRetention

    folder = tmp_path / "backups"
    now = at("2026-11-27T12:00")
    old = [
        fake_backup(
            folder / "safety", now - timedelta(days=30 + i), kind="safety", database=db.dbname
        )
        for i in range(3)
    ]
    for path in old:  # of this very database: same server and schema in the manifest
        manifest = backup_store.manifest_path_of(path)
        doc = json.loads(manifest.read_text())
        doc.update(host=db.host, port=db.port, schema=db.schema)
        manifest.write_text(json.dumps(doc))
    rule = SafetyRetention(keep_last=2, keep_days=7, max_count=20)
    result = create_backup(
        db, BackupOptions(backup_dir=folder, kind="safety", safety_retention=rule), now=now
    )
    assert sorted(result.pruned) == sorted(str(p) for p in old[1:])
    left = [e.path for e in backup_store.list_backups(folder)]
    assert left == [Path(result.path), old[0]]


def test_safety_retention_keeps_other_servers_and_the_copy_just_made(
    db: DatabaseTarget, tmp_path: Path
) -> None:
    from lumidb.retention import SafetyRetention

    folder = tmp_path / "backups"
    now = at("2026-11-27T12:00")
    # another server's database of the same name, sharing the folder
    prod = [
        fake_backup(
            folder / "safety", now - timedelta(days=30 + i), kind="safety", database=db.dbname
        )
        for i in range(6)
    ]
    for path in prod:
        manifest = backup_store.manifest_path_of(path)
        doc = json.loads(manifest.read_text())
        doc.update(host="prod.example.com", port=5432, schema="public")
        manifest.write_text(json.dumps(doc))
    # clock skew: a copy of this database dated in the future
    future = fake_backup(folder / "safety", now + timedelta(minutes=10), kind="safety")
    doc = json.loads(backup_store.manifest_path_of(future).read_text())
    doc.update(database=db.dbname, host=db.host, port=db.port, schema=db.schema)
    backup_store.manifest_path_of(future).write_text(json.dumps(doc))
    rule = SafetyRetention(keep_last=1, keep_days=0, max_count=1)
    result = create_backup(
        db, BackupOptions(backup_dir=folder, kind="safety", safety_retention=rule), now=now
    )
    assert Path(result.path).exists()  # never the undo copy just taken
    assert result.pruned == []  # the future one is kept as "last"; prod's are not ours
    assert all(p.exists() for p in prod)


# --- a connection handed down --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["plain", "custom"])
@pytest.mark.parametrize("autocommit", [True, False])
def test_a_backup_uses_the_callers_connection_and_leaves_it_idle(
    db: DatabaseTarget, tmp_path: Path, fmt: str, autocommit: bool
) -> None:
    from psycopg.pq import TransactionStatus

    from lumidb.connection import connect
    from lumidb.errors import OperationError

    add_rows(db)
    options = BackupOptions(backup_dir=tmp_path / "b", format=fmt)
    with connect(db, autocommit=autocommit) as conn:
        result = create_backup(db, options, now=utc_now(), conn=conn)
        assert conn.info.transaction_status == TransactionStatus.IDLE
        assert conn.autocommit is autocommit
        assert conn.execute("SELECT 1").fetchone() == (1,)  # still the caller's to use
        if not autocommit:
            with pytest.raises(OperationError, match="no transaction open"):
                create_backup(db, options, now=utc_now(), conn=conn)  # inside one now
            conn.rollback()
    assert result.manifest.row_counts == real_counts(db)
    assert result.manifest.format == fmt
