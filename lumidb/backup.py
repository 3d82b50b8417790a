"""Backups: ``pg_dump`` into a checksummed, atomically written file with a manifest.

Plain dumps stream through this process in large chunks: compressed in-process (zstd
level 3 with the ``zstandard`` library, as ``pg_dump | zstd -3`` does, or gzip level
6), hashed while written, and the rows of each ``COPY`` block counted from the stream
itself (newline counts per chunk, no per-line work). Custom dumps (``.dump``) are
written by ``pg_dump -Fc`` itself, never wrapped; their row counts come from the same
snapshot that ``pg_dump`` dumps (``pg_export_snapshot()``), so they match exactly.

A backup takes no database lock (it only reads) but locks its folder, so overlapping
cron runs never interleave. Data goes to a temporary name that is renamed only once
complete, after its manifest is in place (so a kill never leaves a data file without a
manifest; a lone manifest is not a backup and the next run removes it). A failure,
Ctrl-C or SIGTERM removes the temporary file, so nothing that looks like a backup is
left behind. ``pg_dump`` dies with lumidb, even when lumidb is killed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from lumidb import __version__, backup_store, catalog
from lumidb.backup_store import BackupEntry
from lumidb.connection import DatabaseTarget, connect, quote_ident
from lumidb.dump_stream import CopyRowCounter
from lumidb.errors import OperationError, UsageError
from lumidb.interrupts import Terminated, sigterm_raises
from lumidb.outcome import Outcome
from lumidb.pgtools import dies_with_lumidb
from lumidb.retention import SafetyRetention, by_database, prune_safety_backups, safety_reasons
from lumidb.timespec import age_seconds

if TYPE_CHECKING:
    import psycopg

    from lumidb.pgtools import ClientSuite
    from lumidb.restore import VerifyResult

CHUNK_SIZE = 1 << 20
ZSTD_LEVEL = 3
# One worker thread, as the zstd program uses: compression overlaps reading and counting.
ZSTD_THREADS = 1
GZIP_LEVEL = 6
_F_SETPIPE_SZ = 1031  # Linux fcntl: grow the pipe so each read returns more at once
_POLL_S = 0.2


@dataclass(frozen=True)
class BackupOptions:
    """What ``create_backup`` makes and where; built by the command from settings and flags."""

    backup_dir: Path
    format: str = "plain"
    compression: str = "zstd"
    kind: str = "backup"
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
    manifest: dict[str, Any]
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


class _Compressor(Protocol):
    def compress(self, data: Any, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _Identity:
    def compress(self, data: Any, /) -> bytes:
        return bytes(data)

    def flush(self) -> bytes:
        return b""


# --- creating a backup --------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """What the manifest says about the database, read before the dump."""

    server_version: str
    alembic_revision: str | None
    environment: str


def create_backup(
    target: DatabaseTarget,
    options: BackupOptions,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> BackupResult:
    """Dump ``target`` into ``options.backup_dir`` (``safety/`` for safety backups).

    ``now`` is when the dump starts (UTC): it names the file and dates the manifest.

    Raises ``UsageError`` for a bad format or an unusable directory, ``ConnectionFailed``
    when the server cannot be reached, ``RefusedError`` when another backup holds the
    folder (without ``wait``), ``OperationError`` when pg_dump or writing fails. After a
    failure no backup file, manifest or temporary file is left.
    """
    extension = backup_store.extension_for(options.format, options.compression)
    compression = "none" if options.format == "custom" else options.compression
    if options.kind not in (backup_store.KIND_BACKUP, backup_store.KIND_SAFETY):
        raise UsageError(f"unknown backup kind {options.kind!r}")
    if options.keep is not None and options.keep < 1:
        raise UsageError("--keep must be at least 1")
    from lumidb.pgtools import client_for

    options = replace(options, backup_dir=options.backup_dir.absolute())
    with connect(target, application_name="lumidb backup") as conn:
        source = _read_source(conn, target, options.environment)
        suite = client_for(conn, target, options.pg_bin_dir)
        folder = backup_store.folder_for(options.backup_dir, options.kind)
        warnings = backup_store.ensure_backup_dir(options.backup_dir)
        if folder != options.backup_dir:
            backup_store.ensure_backup_dir(folder)
        with backup_store.backup_dir_lock(folder, wait=options.wait), sigterm_raises():
            backup_store.remove_partials(folder)
            backup_store.remove_orphan_manifests(folder)
            started = now.astimezone(UTC)
            clock_started = time.monotonic()
            path = backup_store.new_backup_path(folder, target.dbname, extension, started)
            if options.format == "custom":
                size, sha256, counts = _dump_custom(conn, target, suite, path, progress)
            else:
                size, sha256, counts = _dump_plain(target, suite, path, compression, progress)
            manifest = {
                "manifest_version": backup_store.MANIFEST_VERSION,
                "kind": options.kind,
                "file": path.name,
                "format": options.format,
                "compression": compression,
                "size": size,
                "sha256": sha256,
                "database": target.dbname,
                "host": target.host,
                "port": target.port,
                "user": target.user,
                "schema": target.schema,
                "server_version": source.server_version,
                "pg_dump_version": suite.version,
                "alembic_revision": source.alembic_revision,
                "environment": source.environment,
                "started_at": backup_store.format_time(started),
                "finished_at": backup_store.format_time(
                    started + timedelta(seconds=time.monotonic() - clock_started)
                ),
                "row_counts": dict(sorted(counts.items())),
                "lumidb_version": __version__,
            }
            _publish_with_manifest(path, manifest)
            verification = None
            if options.verify:
                verification = verify_entry(
                    BackupEntry(path=path, manifest=manifest, kind=options.kind),
                    target=target,
                    pg_bin_dir=options.pg_bin_dir,
                )
            pruned: list[str] = []
            if options.kind == backup_store.KIND_SAFETY:
                pruned = prune_safety_backups(
                    options.backup_dir, path, options.safety_retention, started
                )
            elif options.keep is not None and (verification is None or verification.ok):
                pruned = _apply_keep(
                    options.backup_dir, options.kind, target.dbname, path, options.keep
                )
    return BackupResult(
        path=str(path),
        manifest=manifest,
        pruned=pruned,
        warnings=warnings,
        verification=verification,
    )


@dataclass(frozen=True)
class SafetyBackup:
    """The undo copy a destructive command takes first, and the command that restores it."""

    path: str
    undo_command: str


def take_safety_backup(
    target: DatabaseTarget,
    *,
    backup_dir: Path,
    pg_bin_dir: Path | None,
    environment: str,
    retention: SafetyRetention | None,
    now: datetime,
) -> SafetyBackup:
    """A safety backup (``safety/``, kind ``safety``, its own retention) before
    ``restore-latest``, ``reset`` or ``purge`` change anything."""
    import shlex

    options = BackupOptions(
        backup_dir=backup_dir,
        kind=backup_store.KIND_SAFETY,
        pg_bin_dir=pg_bin_dir,
        environment=environment,
    )
    if retention is not None:
        options = replace(options, safety_retention=retention)
    path = create_backup(target, options, now=now).path
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


def _pg_dump_args(suite: ClientSuite, target: DatabaseTarget) -> list[str]:
    """pg_dump's command line: no password here (it travels in PGPASSWORD)."""
    return [
        str(suite.program("pg_dump")),
        f"--dbname={target.child_dsn()}",
        "--no-owner",
        "--no-privileges",
        "--exclude-schema=lumidb",
        f"--schema={quote_ident(target.schema)}",
    ]


def _cause_line(stderr: IO[bytes], target: DatabaseTarget) -> str:
    """The line of pg_dump's messages that says why it failed.

    pg_dump writes ``pg_dump: error: ...`` (or a server's ``FATAL:``/``ERROR:``) and
    then lines of context (``detail: Query was: ...``, ``hint: ...``): the cause is the
    first error line, not the last line.
    """
    stderr.seek(0)
    text = target.scrub(stderr.read().decode("utf-8", "replace"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for marker in ("error:", "FATAL:", "ERROR:"):
        for line in lines:
            if marker in line:
                return line
    return lines[-1] if lines else ""


def _failure(
    proc: subprocess.Popen[bytes] | None, stderr: IO[bytes], target: DatabaseTarget
) -> str:
    """Why pg_dump failed, in one line."""
    line = _cause_line(stderr, target)
    code = proc.returncode if proc is not None else None
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"pg_dump was killed by {name}" + (f": {line}" if line else "")
    return line or f"pg_dump exited with status {code}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _translate(exc: BaseException, what: str) -> OperationError:
    if isinstance(exc, KeyboardInterrupt):
        return OperationError(f"{what} interrupted (Ctrl-C); no backup was written")
    if isinstance(exc, Terminated):
        return OperationError(f"{what} terminated (SIGTERM); no backup was written")
    if isinstance(exc, OSError):
        return OperationError(f"cannot write the backup: {exc.strerror or exc}; no backup was kept")
    return OperationError(f"{what} failed: {exc}")


def _publish_with_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Make the complete temporary file of ``path`` a backup: manifest first, then data.

    In that order a kill at any moment leaves either a temporary file (with perhaps a
    manifest whose data file does not exist: not a backup) or the whole pair, never a
    complete data file without a manifest; the next run removes the former. Any failure
    here removes all three names.
    """
    partial = backup_store.partial_path_of(path)
    manifest_file = backup_store.manifest_path_of(path)
    try:
        backup_store.write_manifest(path, manifest)
        partial.replace(path)
        backup_store.fsync_dir(path.parent)
    except BaseException as exc:
        backup_store.partial_path_of(manifest_file).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        manifest_file.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
        if isinstance(exc, OperationError | UsageError):
            raise
        raise _translate(exc, "backup") from None


def _compressor(compression: str) -> _Compressor:
    if compression == "zstd":
        import zstandard

        compressor: _Compressor = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, threads=ZSTD_THREADS
        ).compressobj()
        return compressor
    if compression == "gzip":
        import zlib

        return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return _Identity()


def _dump_plain(
    target: DatabaseTarget,
    suite: ClientSuite,
    path: Path,
    compression: str,
    progress: Callable[[int], None] | None,
) -> tuple[int, str, dict[str, int]]:
    """Stream pg_dump's plain output into ``path``: compress, hash and count on the way."""
    partial, fd = backup_store.create_partial(path)
    proc: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                _pg_dump_args(suite, target),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=target.child_env(application_name="lumidb backup"),
                preexec_fn=dies_with_lumidb(),
                bufsize=0,
            )
            assert proc.stdout is not None
            source = proc.stdout.fileno()
            try:
                import fcntl

                fcntl.fcntl(source, _F_SETPIPE_SZ, CHUNK_SIZE)
            except OSError:
                pass
            counter = CopyRowCounter()
            compressor = _compressor(compression)
            passthrough = compression == "none"
            digest = hashlib.sha256()
            written = 0
            buffer = bytearray(CHUNK_SIZE)
            view = memoryview(buffer)
            while True:
                n = os.readv(source, [buffer])
                if n == 0:
                    break
                chunk = view[:n]
                counter.feed(buffer, n)
                out = chunk if passthrough else compressor.compress(chunk)
                if out:
                    digest.update(out)
                    written += _write_all(fd, out)
                    if progress is not None:
                        progress(written)
            tail = compressor.flush()
            if tail:
                digest.update(tail)
                written += _write_all(fd, tail)
            proc.wait()
            if proc.returncode != 0:
                raise OperationError(
                    "pg_dump failed: " + _failure(proc, stderr, target) + "; no backup was kept"
                )
            if counter.in_copy:
                raise OperationError(
                    "pg_dump's output ended inside a COPY block; no backup was kept"
                )
            os.fsync(fd)
            os.close(fd)
            fd = -1
        except BaseException as exc:
            if proc is not None:
                _stop(proc)
            if fd >= 0:
                os.close(fd)
            partial.unlink(missing_ok=True)
            if isinstance(exc, OperationError | UsageError):
                raise
            raise _translate(exc, "backup") from None
        finally:
            if proc is not None and proc.stdout is not None:
                proc.stdout.close()
    if progress is not None:
        progress(written)
    return written, digest.hexdigest(), counter.counts


def _write_all(fd: int, data: bytes | memoryview) -> int:
    view = memoryview(data)
    total = len(view)
    while view:
        view = view[os.write(fd, view) :]
    return total


def _dump_custom(
    conn: psycopg.Connection[Any],
    target: DatabaseTarget,
    suite: ClientSuite,
    path: Path,
    progress: Callable[[int], None] | None,
) -> tuple[int, str, dict[str, int]]:
    """``pg_dump -Fc`` into ``path``; rows counted in the snapshot pg_dump dumps."""
    # pg_dump writes into the file lumidb created (its stdout), never opening a name
    # itself: a regular file is seekable, so the archive keeps its data offsets.
    partial, fd = backup_store.create_partial(path)
    proc: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryFile() as stderr:
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            snapshot = str(row[0])
            proc = subprocess.Popen(
                [
                    *_pg_dump_args(suite, target),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=stderr,
                env=target.child_env(application_name="lumidb backup"),
                preexec_fn=dies_with_lumidb(),
            )
            counts = catalog.row_counts(conn, target.schema)
            while True:
                try:
                    proc.wait(timeout=_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if progress is not None:
                        progress(os.fstat(fd).st_size)
            conn.execute("COMMIT")
            if proc.returncode != 0:
                raise OperationError(
                    "pg_dump failed: " + _failure(proc, stderr, target) + "; no backup was kept"
                )
            os.fsync(fd)
            size = os.fstat(fd).st_size
            os.close(fd)
            fd = -1
            sha256 = backup_store.file_sha256(partial)
        except BaseException as exc:
            if proc is not None:
                _stop(proc)
            if fd >= 0:
                os.close(fd)
            partial.unlink(missing_ok=True)
            if isinstance(exc, OperationError | UsageError):
                raise
            raise _translate(exc, "backup") from None
    if progress is not None:
        progress(size)
    return size, sha256, counts


# --- retention ----------------------------------------------------------------------


def _apply_keep(backup_dir: Path, kind: str, database: str, made: Path, keep: int) -> list[str]:
    """Delete the oldest backups of this kind and database beyond the newest ``keep``."""
    entries = [
        e
        for e in backup_store.list_backups(backup_dir, kinds={kind})
        if e.manifest is not None and e.manifest.get("database") == database
    ]
    doomed = [e for e in entries[keep:] if e.path != made]
    for entry in doomed:
        backup_store.delete_backup(entry)
    return [str(e.path) for e in doomed]


@dataclass(frozen=True)
class PruneItem:
    file: str
    backup_kind: str
    database: str | None
    started_at: str | None
    reason: str


@dataclass(frozen=True)
class PrunePlan:
    """What ``backups prune`` keeps and deletes, and why; ``deleted`` is empty on a dry run."""

    backup_dir: str
    keep_last: int
    keep_daily: int
    keep_weekly: int
    safety_retention: SafetyRetention
    dry_run: bool
    keep: list[PruneItem]
    delete: list[PruneItem]
    deleted: list[str]


def prune_backups(
    backup_dir: Path,
    *,
    keep_last: int,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    safety_retention: SafetyRetention | None = None,
    now: datetime,
    dry_run: bool = False,
    wait: bool = False,
) -> PrunePlan:
    """Grandfather-father-son retention over the normal backups of each database.

    Keeps the newest ``keep_last``, the newest of each of the ``keep_daily`` most recent
    days and of each of the ``keep_weekly`` most recent ISO weeks (UTC), and always the
    newest backup whose checksum matches. Safety backups follow their own rule
    (``retention.SafetyRetention``, ages at ``now``); legacy files are not touched.
    """
    rule = safety_retention or SafetyRetention()
    if keep_last < 1:
        raise UsageError("--keep-last must be at least 1")
    if keep_daily < 0 or keep_weekly < 0:
        raise UsageError("--keep-daily and --keep-weekly cannot be negative")
    backup_dir = backup_dir.absolute()
    if not backup_dir.is_dir():
        return PrunePlan(
            str(backup_dir), keep_last, keep_daily, keep_weekly, rule, dry_run, [], [], []
        )
    with backup_store.backup_dir_lock(backup_dir, wait=wait):
        entries = backup_store.list_backups(backup_dir, kinds={backup_store.KIND_BACKUP})
        safety = backup_store.list_backups(backup_dir, kinds={backup_store.KIND_SAFETY})
        keep: list[PruneItem] = []
        delete: list[PruneItem] = []
        doomed: list[BackupEntry] = []
        groups = [
            (group, _gfs_reasons(group, keep_last, keep_daily, keep_weekly))
            for group in by_database(entries).values()
        ] + [(group, safety_reasons(group, rule, now)) for group in by_database(safety).values()]
        for group, reasons in groups:
            for entry in group:
                reason = reasons.get(entry.path)
                if reason is None:
                    delete.append(_item(entry, "beyond retention"))
                    doomed.append(entry)
                else:
                    keep.append(_item(entry, reason))
        deleted: list[str] = []
        if not dry_run:
            for entry in doomed:
                backup_store.delete_backup(entry)
                deleted.append(str(entry.path))
    return PrunePlan(
        str(backup_dir), keep_last, keep_daily, keep_weekly, rule, dry_run, keep, delete, deleted
    )


def _gfs_reasons(
    entries: list[BackupEntry], keep_last: int, keep_daily: int, keep_weekly: int
) -> dict[Path, str]:
    """Why each kept backup (newest first in ``entries``) is kept."""
    reasons: dict[Path, list[str]] = {}
    for entry in entries[:keep_last]:
        reasons.setdefault(entry.path, []).append("last")
    days: list[Any] = []
    weeks: list[Any] = []
    for entry in entries:
        day = entry.when.date()
        if day not in days and len(days) < keep_daily:
            days.append(day)
            reasons.setdefault(entry.path, []).append("daily")
        week = entry.when.isocalendar()[:2]
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            reasons.setdefault(entry.path, []).append("weekly")
    if not any(backup_store.checksum_matches(e) for e in entries if e.path in reasons):
        for entry in entries:
            if entry.path not in reasons and backup_store.checksum_matches(entry):
                reasons[entry.path] = ["newest good"]
                break
    return {path: ", ".join(why) for path, why in reasons.items()}


def _item(entry: BackupEntry, reason: str) -> PruneItem:
    started = entry.started_at
    return PruneItem(
        file=str(entry.path),
        backup_kind=entry.kind,
        database=(entry.manifest or {}).get("database"),
        started_at=backup_store.format_time(started) if started else None,
        reason=reason,
    )


# --- listing and verifying ---------------------------------------------------------


@dataclass(frozen=True)
class BackupSummary:
    file: str
    backup_kind: str
    database: str | None
    started_at: str | None
    age_seconds: float
    size: int
    format: str
    compression: str
    alembic_revision: str | None
    checksum: str  # "ok" | "mismatch" | "none" (no manifest)


@dataclass(frozen=True)
class BackupListing:
    backup_dir: str
    backups: list[BackupSummary]


def list_backup_summaries(backup_dir: Path, *, now: datetime) -> BackupListing:
    """Every backup, newest first, with its checksum state and age at ``now`` (reads every file)."""
    backup_dir = backup_dir.absolute()
    summaries = []
    for entry in backup_store.list_backups(backup_dir):
        matches = backup_store.checksum_matches(entry)
        started = entry.started_at
        summaries.append(
            BackupSummary(
                file=str(entry.path),
                backup_kind=entry.kind,
                database=(entry.manifest or {}).get("database"),
                started_at=backup_store.format_time(started) if started else None,
                age_seconds=age_seconds(entry.when, now),
                size=entry.size,
                format=entry.format,
                compression=entry.compression,
                alembic_revision=entry.alembic_revision,
                checksum="none" if matches is None else ("ok" if matches else "mismatch"),
            )
        )
    return BackupListing(backup_dir=str(backup_dir), backups=summaries)


def verify_entry(
    entry: BackupEntry, *, target: DatabaseTarget, pg_bin_dir: Path | None
) -> VerifyResult:
    """Check a backup as ``backups verify`` does (the restore side's ``verify_backup``)."""
    from lumidb.restore import verify_backup

    return verify_backup(entry, target=target, pg_bin_dir=pg_bin_dir)


def verify_backup_file(
    backup_dir: Path, file: Path | None, *, target: DatabaseTarget, pg_bin_dir: Path | None
) -> VerifyResult:
    """Verify ``file``, or the newest backup in ``backup_dir`` (safety and legacy excluded)."""
    if file is not None:
        entry = backup_store.load_entry(file)
    else:
        entries = backup_store.list_backups(backup_dir, kinds={backup_store.KIND_BACKUP})
        if not entries:
            raise UsageError(f"no backups in {backup_dir}", hint="run lumidb backup first")
        entry = entries[0]
    return verify_entry(entry, target=target, pg_bin_dir=pg_bin_dir)
