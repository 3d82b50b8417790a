"""Verifying a backup: its checksum, then a restore into a scratch database and its row counts.

``lumidb backups verify`` (and ``backup --verify``, ``migrate adopt``) call
``verify_backup``. The scratch database (``lumidb_verify_<random>``) is created on the
target's server, loaded exactly as a restore loads (``load.load_backup``: the same
filter, the same single transaction, the same checks), its row counts compared with
the manifest's, and dropped afterwards, also on failure or Ctrl-C.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb.connection import DatabaseTarget, connect, quote_ident
from lumidb.errors import OperationError, UsageError
from lumidb.outcome import Outcome
from lumidb.storage import BackupLocation

if TYPE_CHECKING:
    from lumidb.backup_store import BackupEntry

APPLICATION_NAME = "lumidb verify"


@dataclass(frozen=True)
class VerifyResult(Outcome):
    """A backup checked: its checksum, and a restore into a scratch database."""

    file: str
    checksum_ok: bool | None
    restored: bool
    scratch_database: str | None
    row_counts: dict[str, int]
    differences: list[str]
    duration_seconds: float
    manifest: bool = True  # False: an old script's file, no row counts to compare with

    @property
    def ok(self) -> bool:
        return self.checksum_ok is not False and self.restored and not self.differences

    @property
    def failure(self) -> OperationError | None:
        if self.ok:
            return None
        return OperationError("the backup did not verify", hint="see its differences")


def verify_backup(
    entry: BackupEntry, *, target: DatabaseTarget, pg_bin_dir: Path | None
) -> VerifyResult:
    """Check a backup: its checksum, then a restore into a scratch database on ``target``'s server.

    Two sessions: one on ``target`` (client choice, creating and dropping the scratch
    database) and one on the scratch database (what the load needs, the row counts).
    """
    import secrets

    from lumidb import backup_read, catalog
    from lumidb.load import load_backup
    from lumidb.pgtools import client_for

    started = time.monotonic()
    checksum = backup_read.checksum_matches(entry)

    def result(**kwargs: Any) -> VerifyResult:
        values: dict[str, Any] = {
            "file": entry.label,
            "checksum_ok": checksum,
            "manifest": entry.manifest is not None,
            "restored": False,
            "scratch_database": None,
            "row_counts": {},
            "differences": [],
            **kwargs,
        }
        return VerifyResult(duration_seconds=round(time.monotonic() - started, 3), **values)

    if checksum is False:
        return result(differences=["the file does not match the size and SHA-256 in its manifest"])
    manifest = entry.manifest
    schema = str((manifest.db_schema if manifest else None) or target.schema)
    name = f"lumidb_verify_{secrets.token_hex(6)}"
    scratch = replace(target.for_database(name), schema=schema)
    with connect(target, application_name=APPLICATION_NAME) as conn:
        suite = client_for(conn, target, pg_bin_dir)
        _create_scratch_database(conn, target, name)
        try:
            with connect(scratch, application_name=APPLICATION_NAME) as scratch_conn:
                try:
                    load_backup(
                        entry,
                        scratch,
                        scratch_conn,
                        suite=suite,
                        pg_bin_dir=pg_bin_dir,
                        jobs=None,
                        lock_timeout=60.0,
                        application_name=APPLICATION_NAME,
                    )
                except OperationError as exc:
                    return result(scratch_database=name, differences=[exc.message])
                counts = catalog.row_counts(scratch_conn, schema)
        finally:
            conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    expected = manifest.row_counts if manifest else None
    differences = compare_counts(expected, counts, schema) if isinstance(expected, dict) else []
    return result(restored=True, scratch_database=name, row_counts=counts, differences=differences)


def _create_scratch_database(conn: Any, target: DatabaseTarget, name: str) -> None:
    """Create the scratch database of a verification; a role that may not is a UsageError."""
    import psycopg

    try:
        conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0")
    except psycopg.errors.InsufficientPrivilege:
        raise UsageError(
            f"verifying a backup needs a role that may create databases (CREATEDB), or a "
            f"superuser: {target.user} may not create the scratch database it restores into",
            hint=f"ALTER ROLE {quote_ident(target.user)} CREATEDB, or verify with the URL "
            "of a role that may",
        ) from None


def compare_counts(expected: dict[str, Any], actual: dict[str, int], schema: str) -> list[str]:
    """What differs between a manifest's row counts and the restored tables' (bare names)."""
    from lumidb.restore_checks import bare_table

    wanted = {bare_table(str(k), schema): v for k, v in expected.items()}
    differences = []
    for table, rows in sorted(wanted.items()):
        if table not in actual:
            differences.append(f"table {table}: in the manifest, missing after the restore")
        elif actual[table] != rows:
            differences.append(
                f"table {table}: the manifest says {rows} rows, the restore has {actual[table]}"
            )
    differences += [
        f"table {table}: restored ({actual[table]} rows) but not in the manifest"
        for table in sorted(set(actual) - set(wanted))
    ]
    return differences


def verify_backup_file(
    backup_dir: BackupLocation,
    file: Path | str | None,
    *,
    target: DatabaseTarget,
    pg_bin_dir: Path | None,
) -> VerifyResult:
    """Verify ``file``, or the newest backup in ``backup_dir`` (safety and legacy excluded)."""
    from lumidb import backup_store
    from lumidb.formats import BackupKind

    if file is not None:
        entry = backup_store.load_entry(file)
    else:
        entries = backup_store.list_backups(backup_dir, kinds={BackupKind.BACKUP})
        if not entries:
            raise UsageError(f"no backups in {backup_dir}", hint="run lumidb backup first")
        entry = entries[0]
    return verify_backup(entry, target=target, pg_bin_dir=pg_bin_dir)
