"""``lumidb backup``'s core: a checksummed backup of the target, published with its manifest.

``create_backup`` reads what the manifest says about the database, runs the pg_dump
pipeline (``dump_pipeline``) into the backup location (``lumidb.storage``), and publishes
the data only once complete, after its manifest (``backup_store.pending_backup``): a
failure, Ctrl-C or SIGTERM leaves nothing that looks like a backup. A backup takes no
database lock (it only reads) but locks its folder of the backup location, so
overlapping cron runs never interleave. Retention (``--keep``, the safety rule) is
planned by ``retention`` and applied here, under the same lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb import __version__, backup_store, dump_pipeline
from lumidb.backup_store import BackupEntry
from lumidb.connection import DatabaseTarget, connect, quote_ident
from lumidb.errors import LumidbError, OperationError, UsageError
from lumidb.formats import BackupFormat, BackupKind, Compression, stored_compression
from lumidb.interrupts import Terminated, sigterm_raises
from lumidb.outcome import Outcome
from lumidb.retention import SafetyRetention, plan_keep, plan_safety
from lumidb.storage import BackupLocation, BackupStorage, StoredObject
from lumidb.storage.location import absolute_location, open_storage

if TYPE_CHECKING:
    import psycopg

    from lumidb.manifest import Manifest
    from lumidb.pgtools import ClientSuite
    from lumidb.verify import VerifyResult


@dataclass(frozen=True)
class BackupOptions:
    """What ``create_backup`` makes and where; built by the command from settings and flags."""

    backup_dir: BackupLocation  # a folder, or an s3:// URL
    format: BackupFormat = BackupFormat.PLAIN
    compression: Compression = Compression.ZSTD
    kind: BackupKind = BackupKind.BACKUP
    keep: int | None = None
    wait: bool = False
    pg_bin_dir: Path | None = None
    environment: str = "development"
    verify: bool = False
    safety_retention: SafetyRetention = field(default_factory=SafetyRetention)


@dataclass(frozen=True)
class BackupResult(Outcome):
    """A finished backup: its path, its manifest, what retention deleted."""

    path: str
    manifest: Manifest
    pruned: list[str]
    warnings: list[str] = field(default_factory=list)
    verification: VerifyResult | None = None  # with --verify

    @property
    def ok(self) -> bool:
        return self.verification is None or self.verification.ok

    @property
    def failure(self) -> OperationError | None:
        if self.ok:
            return None
        return OperationError(
            f"the backup {self.path} was written but did not verify",
            hint="see its differences; older backups were not pruned",
        )


# --- creating a backup --------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """What the manifest says about the database, read before the dump."""

    server_version: str
    alembic_revision: str | None
    environment: str


def _checked(options: BackupOptions) -> BackupOptions:
    """The options with their format, compression and kind as enums; ``UsageError`` if bad."""
    backup_store.extension_for(options.format, options.compression)
    if options.kind not in (BackupKind.BACKUP, BackupKind.SAFETY):
        raise UsageError(f"unknown backup kind {options.kind!r}")
    if options.keep is not None and options.keep < 1:
        raise UsageError("--keep must be at least 1")
    return replace(
        options,
        backup_dir=absolute_location(options.backup_dir),
        format=BackupFormat(options.format),
        compression=Compression(options.compression),
        kind=BackupKind(options.kind),
    )


def create_backup(
    target: DatabaseTarget,
    options: BackupOptions,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    conn: psycopg.Connection[Any] | None = None,
) -> BackupResult:
    """Dump ``target`` into ``options.backup_dir`` (``safety/`` for safety backups).

    ``now`` is when the dump starts (UTC): it names the file and dates the manifest.
    ``conn``: an open connection to ``target`` to use instead of opening one. It must
    have no transaction open; it is left with none (autocommit unchanged). A custom dump
    runs a ``REPEATABLE READ READ ONLY`` transaction on it while pg_dump runs.

    Raises ``UsageError`` for a bad format or an unusable directory, ``ConnectionFailed``
    when the server cannot be reached, ``RefusedError`` when another backup holds the
    folder (without ``wait``), ``OperationError`` when pg_dump or writing fails. After a
    failure no backup file, manifest or temporary file is left.
    """
    options = _checked(options)
    store = open_storage(options.backup_dir)  # a bucket's client warms up meanwhile
    if conn is None:
        with connect(target, application_name="lumidb backup") as own:
            return _create(own, target, options, store, now, progress)
    return _create(conn, target, options, store, now, progress)


def _create(
    conn: psycopg.Connection[Any],
    target: DatabaseTarget,
    options: BackupOptions,
    store: BackupStorage,
    now: datetime,
    progress: Callable[[int], None] | None,
) -> BackupResult:
    from psycopg.pq import TransactionStatus

    from lumidb.pgtools import client_for

    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise OperationError("a backup needs a connection with no transaction open")
    source = _read_source(conn, target, options.environment)
    suite = client_for(conn, target, options.pg_bin_dir)
    conn.rollback()  # the reads above began a transaction unless in autocommit: end it
    folder = backup_store.folder_for(options.kind)
    warnings = store.prepare(folder)
    with store.lock(folder, wait=options.wait), sigterm_raises():
        store.remove_leftovers(folder)
        backup_store.remove_orphan_manifests(store, folder)
        started = now.astimezone(UTC)
        clock_started = time.monotonic()
        extension = backup_store.extension_for(options.format, options.compression)
        name = backup_store.new_backup_name(store, folder, target.dbname, extension, started)
        compression = stored_compression(options.format, options.compression)
        try:
            with backup_store.pending_backup(store, name) as pending:
                if options.format == BackupFormat.CUSTOM:
                    size, sha256, counts = dump_pipeline.dump_custom(
                        conn, target, suite, pending.upload, progress
                    )
                else:
                    size, sha256, counts = dump_pipeline.dump_plain(
                        target, suite, pending.upload, compression, progress
                    )
                finished = started + timedelta(seconds=time.monotonic() - clock_started)
                manifest = _manifest(
                    name,
                    options,
                    compression,
                    size,
                    sha256,
                    target,
                    source,
                    suite,
                    counts,
                    started,
                    finished,
                )
                pending.seal(manifest)
        except LumidbError:
            raise
        except BaseException as exc:
            raise _translate(exc, "backup") from None
        entry = BackupEntry(store, name, manifest, options.kind, StoredObject(name, size, finished))
        verification = None
        if options.verify:
            from lumidb.verify import verify_backup

            verification = verify_backup(entry, target=target, pg_bin_dir=options.pg_bin_dir)
        doomed: list[BackupEntry] = []
        prunes = options.kind == BackupKind.SAFETY or options.keep is not None
        same_kind = backup_store.list_entries(store, kinds={options.kind}) if prunes else []
        if options.kind == BackupKind.SAFETY:
            doomed = plan_safety(same_kind, made=name, rule=options.safety_retention, now=started)
        elif options.keep is not None and (verification is None or verification.ok):
            doomed = plan_keep(same_kind, made=name, keep=options.keep, now=started)
        for old in doomed:
            backup_store.delete_backup(old)
    return BackupResult(
        path=entry.label,
        manifest=manifest,
        pruned=[old.label for old in doomed],
        warnings=warnings,
        verification=verification,
    )


def _manifest(
    name: str,
    options: BackupOptions,
    compression: Compression,
    size: int,
    sha256: str,
    target: DatabaseTarget,
    source: _Source,
    suite: ClientSuite,
    counts: dict[str, int],
    started: datetime,
    finished: datetime,
) -> Manifest:
    from lumidb.manifest import Manifest

    return Manifest(
        kind=options.kind,
        file=name.rsplit("/", 1)[-1],
        format=options.format,
        compression=compression,
        size=size,
        sha256=sha256,
        database=target.dbname,
        host=target.host,
        port=target.port,
        user=target.user,
        schema=target.schema,
        server_version=source.server_version,
        pg_dump_version=suite.version,
        alembic_revision=source.alembic_revision,
        environment=source.environment,
        started_at=started,
        finished_at=finished,
        row_counts=dict(sorted(counts.items())),
        lumidb_version=__version__,
    )


@dataclass(frozen=True)
class SafetyBackup:
    """The undo copy a destructive command takes first, and the command that restores it."""

    path: str
    undo_command: str


def take_safety_backup(
    target: DatabaseTarget,
    *,
    backup_dir: BackupLocation,
    pg_bin_dir: Path | None,
    environment: str,
    retention: SafetyRetention | None,
    now: datetime,
    conn: psycopg.Connection[Any] | None = None,
) -> SafetyBackup:
    """A safety backup (``safety/``, kind ``safety``, its own retention) before
    ``restore-latest``, ``reset`` or ``purge`` change anything; ``conn`` as for
    ``create_backup``."""
    import shlex

    options = BackupOptions(
        backup_dir=backup_dir,
        kind=BackupKind.SAFETY,
        pg_bin_dir=pg_bin_dir,
        environment=environment,
    )
    if retention is not None:
        options = replace(options, safety_retention=retention)
    path = create_backup(target, options, now=now, conn=conn).path
    return SafetyBackup(path=path, undo_command=f"lumidb restore-latest --file {shlex.quote(path)}")


def _read_source(
    conn: psycopg.Connection[Any], target: DatabaseTarget, shell_environment: str
) -> _Source:
    from psycopg import sql

    from lumidb.guard import read_environment

    row = conn.execute("SELECT current_setting('server_version')").fetchone()
    version = str(row[0]).split()[0] if row else "unknown"
    revision = None
    table = f"{quote_ident(target.schema)}.alembic_version"
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    if exists and exists[0]:
        rows = conn.execute(
            sql.SQL("SELECT version_num FROM {}.alembic_version ORDER BY 1").format(
                sql.Identifier(target.schema)
            )
        ).fetchall()
        revision = ",".join(str(r[0]) for r in rows) or None
    recorded = read_environment(conn)
    environment = recorded.value if recorded is not None else str(shell_environment)
    return _Source(
        server_version=version,
        alembic_revision=revision,
        environment=environment,
    )


def _translate(exc: BaseException, what: str) -> OperationError:
    if isinstance(exc, KeyboardInterrupt):
        return OperationError(f"{what} interrupted (Ctrl-C); no backup was written")
    if isinstance(exc, Terminated):
        return OperationError(f"{what} terminated (SIGTERM); no backup was written")
    if isinstance(exc, OSError):
        return OperationError(f"cannot write the backup: {exc.strerror or exc}; no backup was kept")
    return OperationError(f"{what} failed: {exc}")
