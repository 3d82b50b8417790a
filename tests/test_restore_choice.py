"""Which backup ``restore-latest`` takes: only the target database's, unless told otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import TEMPLATE, Cli, _fresh_database
from servers import Pg18TestServer
from test_restore import sql

from lumidb.backup import BackupOptions, create_backup
from lumidb.connection import DatabaseTarget

EARLIER = datetime(2026, 11, 24, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def other_db(app_server: Pg18TestServer) -> Iterator[DatabaseTarget]:
    """A second database on the same server (a scratch copy, another application)."""
    yield from _fresh_database(app_server, TEMPLATE)


def add_user(target: DatabaseTarget, user_id: str) -> None:
    sql(
        target,
        """INSERT INTO users (id, email, password, "updatedAt") VALUES (%s, %s, 'h', now())""",
        (user_id, f"{user_id}@x.test"),
    )


def user_ids(target: DatabaseTarget) -> list[str]:
    return [r[0] for r in sql(target, "SELECT id FROM users ORDER BY id")]


def test_restore_latest_takes_only_the_target_databases_backups(
    cli: Cli, db: DatabaseTarget, other_db: DatabaseTarget
) -> None:
    folder = cli.workdir / "backups"
    cli.setenv("LUMIDB_BACKUP_DIR", str(folder))
    add_user(db, "mine-1")
    add_user(db, "mine-2")
    add_user(other_db, "theirs")
    own = create_backup(db, BackupOptions(backup_dir=folder), now=EARLIER)
    # The other database's backup is newer: by time alone it would be "the latest".
    create_backup(other_db, BackupOptions(backup_dir=folder), now=EARLIER + timedelta(hours=1))
    sql(db, "DELETE FROM users")
    cli.use(db)
    run = cli("restore-latest", "--yes", "--no-safety-backup", "--json")
    assert run.exit_code == 0, run.stderr
    assert Path(run.json()["file"]).name == Path(own.path).name
    assert user_ids(db) == ["mine-1", "mine-2"]
    assert "another database" not in run.stderr

    # Asked for explicitly, the other database's backup restores, and the plan says so.
    chosen = cli(
        "restore-latest", "--yes", "--no-safety-backup", "--from-database", other_db.dbname
    )
    assert chosen.exit_code == 0, chosen.stderr
    assert user_ids(db) == ["theirs"]
    assert "another database" in chosen.stdout and other_db.dbname in chosen.stdout
    assert "--from-database" in chosen.stdout
    dry = cli("restore-latest", "--from-database", other_db.dbname, "--json")
    assert dry.exit_code == 3  # no terminal, no --yes: the plan alone, then refused
    assert "another database" in dry.stderr

    # A folder with only another database's backups: nothing to restore, and the way out.
    sql(db, "DELETE FROM users")
    cli.use(other_db)
    other_run = cli("restore-latest", "--yes", "--no-safety-backup", "--from-database", "nope")
    assert other_run.exit_code == 1 and "no complete backup of nope" in other_run.stderr
    cli.use(db)
    (folder / Path(own.path).name).unlink()
    none = cli("restore-latest", "--yes", "--no-safety-backup")
    assert none.exit_code == 1
    assert f"no complete backup of {db.dbname}" in none.stderr
    assert f"--from-database {other_db.dbname}" in none.stderr
    assert user_ids(db) == []


def test_from_database_and_file_do_not_mix(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("restore-latest", "--yes", "--file", "x.sql", "--from-database", "other")
    assert run.exit_code == 2 and "--from-database" in run.stderr
