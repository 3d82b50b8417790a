"""Restores: ``restore-latest`` plans (which backup, what it replaces), then acts under the lock.

``plan_restore`` chooses the backup (the newest good one of the target's database, or
``--file``/``--from-database``) and says what the restore will do; ``restore`` carries
that plan out under lumidb's database lock: the other sessions ended when asked, the
safety backup, then the load (``load``: one transaction, or ``--jobs``). It holds two
sessions on the target, the lock's and one working session, which it hands to what it
calls (client choice, sessions, what the load reads); the children connect on their own.

The ``lumidb`` schema (the environment record) is never touched; scratch restores of
``backups verify`` live in ``verify``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect, quote_ident
from lumidb.errors import OperationError, UsageError
from lumidb.formats import format_time
from lumidb.guard import RECORD_SCHEMA
from lumidb.interrupts import Terminated, sigterm_raises
from lumidb.restore_checks import bare_table
from lumidb.retention import SafetyRetention, latest_good_backup
from lumidb.storage import BackupLocation
from lumidb.storage.location import absolute_location
from lumidb.timespec import age_seconds

if TYPE_CHECKING:
    from lumidb.backup import SafetyBackup
    from lumidb.backup_store import BackupEntry

APPLICATION_NAME = "lumidb restore-latest"

Notify = Callable[[str], None]


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreOptions:
    """What ``restore-latest`` was asked to do, and the settings it needs."""

    backup_dir: BackupLocation
    file: Path | str | None = None  # a file, or an object's s3:// URL
    from_database: str | None = None  # take another database's backups (None: the target's)
    safety_backup: bool = True
    jobs: int | None = None
    terminate_connections: bool = False
    pg_bin_dir: Path | None = None
    environment: Environment = Environment.DEVELOPMENT
    lock_timeout: float = 30.0
    restore_lock_timeout: float = 10.0
    safety_retention: SafetyRetention = field(default_factory=SafetyRetention)


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do, shown before the user confirms it."""

    file: str
    backup_kind: str
    format: str
    compression: str
    size: int
    started_at: str | None
    age_seconds: float | None
    source_database: str | None
    another_database: bool  # the backup is of another database than the target
    chosen_by: str  # "newest" (the target's own), "--from-database" or "--file"
    source_host: str | None
    source_revision: str | None
    revision_known: bool | None
    source_environment: str | None
    target: str
    target_database: str
    schema: str
    production: bool
    replaces: str
    safety_backup: bool
    jobs: int | None
    warnings: list[str] = field(default_factory=list)
    target_revision: str | None = None  # the target's revision now (the restore replaces it)

    @property
    def revision_change(self) -> str | None:
        """``backup at 0001, database at 0002 → after the restore the database is at 0001``."""
        if self.source_revision is None or self.source_revision == self.target_revision:
            return None
        now = self.target_revision or "no revision"
        return (
            f"backup at {self.source_revision}, database at {now} → after the restore "
            f"the database is at {self.source_revision}"
        )


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore; ``undo_command`` brings back what was there before."""

    file: str
    target: str
    safety_backup: str | None
    undo_command: str | None
    duration_seconds: float
    rows: dict[str, int]
    terminated: list[str]
    jobs: int | None
    revision: str | None = None  # the revision the database is at after the restore
    behind_head: bool = False  # True: run `lumidb migrate deploy` to bring it up to date
    notes: list[str] = field(default_factory=list)


# --- choosing the backup ------------------------------------------------------------


def _check_choice(options: RestoreOptions) -> None:
    if options.file is not None and options.from_database is not None:
        raise UsageError("--file names the backup itself: give --file or --from-database, not both")


def check_backup_exists(options: RestoreOptions) -> None:
    """Fail early, before anything connects (or starts the local server): no backup to restore.

    Cheap: the checksum is checked later, by ``plan_restore``.
    """
    from lumidb import backup_store

    _check_choice(options)
    if options.file is not None:
        backup_store.load_entry(options.file)
        return
    if isinstance(options.backup_dir, Path) and not options.backup_dir.is_dir():
        if options.backup_dir.exists():
            raise UsageError(f"{options.backup_dir.absolute()} is not a folder")
        raise OperationError(
            f"no backup directory at {options.backup_dir.absolute()}: nothing to restore",
            hint="set LUMIDB_BACKUP_DIR, or give a backup with --file",
        )
    entries = backup_store.list_backups(options.backup_dir, kinds={backup_store.KIND_BACKUP})
    if not any(e.manifest is not None for e in entries):
        raise OperationError(
            f"no complete backup in {absolute_location(options.backup_dir)}: nothing to restore",
            hint="run `lumidb backup` first, or give a backup with --file",
        )


def _chosen_entry(
    options: RestoreOptions, target: DatabaseTarget, now: datetime
) -> tuple[BackupEntry, list[str]]:
    from lumidb import backup_read, backup_store

    _check_choice(options)
    if options.file is None:
        if options.from_database is not None:  # said so: any server's backup of that name
            return latest_good_backup(options.backup_dir, options.from_database, now=now)
        server = (target.host, target.port)
        return latest_good_backup(options.backup_dir, target.dbname, server=server, now=now)
    entry = backup_store.load_entry(options.file)
    warnings: list[str] = []
    if entry.manifest is None:
        warnings.append(
            f"{entry.file_name} has no manifest (an old script's backup?): no checksum to "
            "check and no row counts; its owner and privilege statements are left out"
        )
    elif not backup_read.checksum_matches(entry):
        raise OperationError(
            f"{entry.file_name} does not match the checksum in its manifest: it is damaged",
            hint="choose another backup",
        )
    return entry, warnings


# --- the plan -----------------------------------------------------------------------


def plan_restore(target: DatabaseTarget, options: RestoreOptions, *, now: datetime) -> RestorePlan:
    """Choose the backup, look at the target, and say what the restore will do (ages at ``now``)."""
    from lumidb import guard

    if target.schema == RECORD_SCHEMA:
        raise UsageError(f"the {RECORD_SCHEMA} schema is lumidb's own and is never restored")
    if options.jobs is not None:
        if options.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if not options.safety_backup:
            raise UsageError(
                "--jobs restores in parallel, which is not one transaction: "
                "its safety backup cannot be skipped",
                hint="drop --no-safety-backup, or --jobs for a restore in one transaction",
            )
    entry, warnings = _chosen_entry(options, target, now)
    manifest = entry.manifest
    source_database = manifest.database if manifest else None
    if options.jobs is not None and entry.format != "custom":
        raise UsageError(
            f"--jobs needs a custom-format backup (.dump); {entry.file_name} is plain SQL"
        )
    source_schema = str((manifest.db_schema if manifest else None) or target.schema)
    if source_schema != target.schema:
        raise UsageError(
            f"{entry.file_name} holds schema {source_schema!r}, the target uses {target.schema!r}",
            hint="restore into a URL with ?schema=" + source_schema,
        )
    revision = entry.alembic_revision
    known = _revision_known(revision) if revision else None
    if known is False:
        warnings.append(
            f"the backup is at revision {revision}, which this lumidb does not know "
            "(a newer schema than the code?); it restores as it is, update lumidb to migrate it"
        )
    with connect(target, application_name=APPLICATION_NAME) as conn:
        record = guard.environment_record(conn, options.environment)
        target_revision = current_revision(conn, target.schema)
    age = age_seconds(entry.when, now)
    return RestorePlan(
        file=entry.label,
        backup_kind=entry.kind,
        format=entry.format,
        compression=entry.compression,
        size=entry.size,
        started_at=format_time(manifest.started_at) if manifest else None,
        age_seconds=age,
        source_database=source_database,
        another_database=source_database is not None and source_database != target.dbname,
        chosen_by="--file"
        if options.file is not None
        else ("--from-database" if options.from_database is not None else "newest"),
        source_host=manifest.host if manifest else None,
        source_revision=revision,
        revision_known=known,
        source_environment=manifest.environment if manifest else None,
        target=target.masked_url(),
        target_database=target.dbname,
        schema=target.schema,
        production=record.is_production,
        replaces=f"all tables, data, types and functions of schema {target.schema!r} "
        f"in {target.dbname} are replaced by the backup's",
        safety_backup=options.safety_backup,
        jobs=options.jobs,
        warnings=warnings,
        target_revision=target_revision,
    )


def current_revision(conn: Any, schema: str) -> str | None:
    """The revision(s) recorded in ``schema``'s ``alembic_version`` (comma-joined), or None."""
    exists = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{quote_ident(schema)}.alembic_version",)
    ).fetchone()
    if not exists or not exists[0]:
        return None
    rows = conn.execute(
        f"SELECT version_num FROM {quote_ident(schema)}.alembic_version ORDER BY 1"
    ).fetchall()
    return ",".join(str(r[0]) for r in rows) or None


def _behind_head(revision: str | None) -> bool:
    """True when ``revision`` is one this lumidb knows and is not its head."""
    if revision is None or not _revision_known(revision):
        return False
    from lumidb.revision_files import head_revision_ids

    return set(revision.split(",")) != head_revision_ids()


def _revision_known(revision: str) -> bool:
    from lumidb.revision_files import known_revision_ids

    return all(part in known_revision_ids() for part in revision.split(","))


# --- the restore --------------------------------------------------------------------


def restore(
    target: DatabaseTarget,
    plan: RestorePlan,
    options: RestoreOptions,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> RestoreResult:
    """Carry out ``plan`` under lumidb's database lock: safety backup (taken at ``now``), then the load.

    Two sessions of its own: the lock's, and one working session that the client choice,
    ``--terminate-connections`` and the load's reads and lock-wait report all use.
    """
    from lumidb import backup_store
    from lumidb.load import load_backup
    from lumidb.locks import database_lock
    from lumidb.pgtools import client_for
    from lumidb.schema_contents import terminate_sessions

    say = notify or (lambda _message: None)
    started = time.monotonic()
    entry = backup_store.load_entry(plan.file)
    with (
        sigterm_raises(),
        database_lock(target, "restore-latest", timeout=options.lock_timeout),
        connect(target, application_name=APPLICATION_NAME) as conn,
    ):
        suite = client_for(conn, target, options.pg_bin_dir)
        terminated = terminate_sessions(conn) if options.terminate_connections else []
        for line in terminated:
            say(f"ended session {line}")
        safety: str | None = None
        undo: str | None = None
        if plan.safety_backup:
            taken = _safety_backup(target, options, now, conn)
            safety, undo = taken.path, taken.undo_command
            say(f"safety backup: {safety} (undo with: {undo})")
        try:
            loaded = load_backup(
                entry,
                target,
                conn,
                suite=suite,
                pg_bin_dir=options.pg_bin_dir,
                jobs=plan.jobs,
                lock_timeout=options.restore_lock_timeout,
                application_name=APPLICATION_NAME,
            )
        except OperationError as exc:
            if plan.jobs is not None and undo is not None:
                raise OperationError(
                    f"{exc.message}; a parallel restore is not one transaction, so the "
                    "database may be half restored",
                    hint=f"undo with: {undo}",
                ) from None
            raise
        except (KeyboardInterrupt, Terminated):
            if plan.jobs is not None and undo is not None:
                raise OperationError(
                    "interrupted: a parallel restore is not one transaction, "
                    "the database may be half restored",
                    hint=f"undo with: {undo}",
                ) from None
            raise OperationError(
                "interrupted: the restore was rolled back; the database is unchanged"
            ) from None
    return RestoreResult(
        file=plan.file,
        target=target.masked_url(),
        safety_backup=safety,
        undo_command=undo,
        duration_seconds=round(time.monotonic() - started, 3),
        # keyed as in the manifest: the bare table name (``users``, ``order items``)
        rows={bare_table(name, target.schema): n for name, n in loaded.rows.items()},
        terminated=terminated,
        jobs=plan.jobs,
        revision=plan.source_revision,
        behind_head=_behind_head(plan.source_revision),
        notes=loaded.notes,
    )


def _safety_backup(
    target: DatabaseTarget, options: RestoreOptions, now: datetime, conn: Any
) -> SafetyBackup:
    from lumidb.backup import take_safety_backup

    return take_safety_backup(
        target,
        backup_dir=options.backup_dir,
        pg_bin_dir=options.pg_bin_dir,
        environment=options.environment.value,
        retention=options.safety_retention,
        now=now,
        conn=conn,
    )
