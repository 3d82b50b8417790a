"""The one layout of backup files: names, manifests, listing, checksums, the folder lock.

A backup is a data file and, beside it, ``<file>.manifest.json``; the pair is a backup
only once both exist (the manifest is put in place first and deleted last, so a kill
leaves at most a lone manifest, never a lone data file). Data is written under a temporary
name (``.<name>.partial``) that nothing here ever takes for a backup, so a failed,
interrupted or killed dump never looks like one. The old scripts' ``backup-*.sql``
files (no manifest) are listed as ``legacy``. Safety backups (undo copies taken before
a destructive command) live in ``<dir>/safety/`` and are kept apart everywhere.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

from lumidb.errors import OperationError, RefusedError, UsageError

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial"
LOCK_NAME = ".lumidb-backup.lock"
SAFETY_DIR = "safety"

KIND_BACKUP = "backup"
KIND_SAFETY = "safety"
KIND_LEGACY = "legacy"
KINDS = (KIND_BACKUP, KIND_SAFETY, KIND_LEGACY)

FORMATS = ("plain", "custom")
COMPRESSIONS = ("zstd", "gzip", "none")
# (format, compression) -> extension; custom uses pg_dump's own compression.
EXTENSIONS = {
    ("plain", "zstd"): ".sql.zst",
    ("plain", "gzip"): ".sql.gz",
    ("plain", "none"): ".sql",
    ("custom", "none"): ".dump",
}
_LEGACY_RE = re.compile(r"^backup-.*\.sql$")
_STAMP_FORMAT = "%Y%m%dT%H%M%S"
_CHUNK = 1 << 20

DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class BackupEntry:
    """One backup on disk: its data file, its manifest (None for legacy files), its kind."""

    path: Path
    manifest: dict[str, Any] | None
    kind: str  # "backup" | "safety" | "legacy"

    @property
    def started_at(self) -> datetime | None:
        """When the dump started (from the manifest); None for legacy files."""
        if self.manifest is None:
            return None
        return parse_time(self.manifest.get("started_at"))

    @property
    def when(self) -> datetime:
        """The time used for ordering and retention (UTC): the manifest's start, else the mtime."""
        started = self.started_at
        if started is not None:
            return started
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, tz=UTC)
        except OSError:
            return datetime.fromtimestamp(0, tz=UTC)

    @property
    def format(self) -> str:
        if self.manifest is not None:
            return str(self.manifest.get("format", "plain"))
        return "custom" if self.path.name.endswith(".dump") else "plain"

    @property
    def compression(self) -> str:
        if self.manifest is not None:
            return str(self.manifest.get("compression", "none"))
        return compression_of_name(self.path.name)

    @property
    def size(self) -> int:
        """Size of the file as stored (bytes), read from disk; -1 when it is gone."""
        try:
            return self.path.stat().st_size
        except OSError:
            return -1

    @property
    def alembic_revision(self) -> str | None:
        if self.manifest is None:
            return None
        revision = self.manifest.get("alembic_revision")
        return str(revision) if revision is not None else None

    @property
    def manifest_path(self) -> Path:
        return manifest_path_of(self.path)


# --- names -------------------------------------------------------------------------


def extension_for(format: str, compression: str) -> str:
    """The file extension of a format and compression; ``UsageError`` for a bad pair."""
    if format not in FORMATS:
        raise UsageError(f"unknown backup format {format!r}; use one of {', '.join(FORMATS)}")
    if compression not in COMPRESSIONS:
        raise UsageError(
            f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}"
        )
    if format == "custom":
        return EXTENSIONS[("custom", "none")]
    return EXTENSIONS[(format, compression)]


def compression_of_name(name: str) -> str:
    if name.endswith(".zst"):
        return "zstd"
    if name.endswith(".gz"):
        return "gzip"
    return "none"


def format_stamp(when: datetime) -> str:
    """``20261124T143800.482Z``: sortable, millisecond precision, UTC."""
    when = when.astimezone(UTC)
    return f"{when.strftime(_STAMP_FORMAT)}.{when.microsecond // 1000:03d}Z"


def format_time(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds, for manifests."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def folder_for(backup_dir: Path, kind: str) -> Path:
    """Where backups of a kind go: the backup dir, or its ``safety/`` folder."""
    return backup_dir / SAFETY_DIR if kind == KIND_SAFETY else backup_dir


def manifest_path_of(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def partial_path_of(path: Path) -> Path:
    return path.with_name(PARTIAL_PREFIX + path.name + PARTIAL_SUFFIX)


def is_temporary(name: str) -> bool:
    return name.startswith(PARTIAL_PREFIX)


def new_backup_path(folder: Path, database: str, extension: str, when: datetime) -> Path:
    """A fresh, unique name in ``folder``; a millisecond is added while the name is taken.

    Call it while holding ``backup_dir_lock`` on the folder, so two runs cannot pick
    the same name.
    """
    safe_db = re.sub(r"[^A-Za-z0-9_.-]", "_", database) or "database"
    for _ in range(10_000):
        path = folder / f"{safe_db}-{format_stamp(when)}{extension}"
        if not any(p.exists() for p in (path, manifest_path_of(path), partial_path_of(path))):
            return path
        when += timedelta(milliseconds=1)
    raise OperationError(f"could not find a free backup name in {folder}")


# --- the folder ---------------------------------------------------------------------


@dataclass(frozen=True)
class FolderProblem:
    """What is wrong with an existing backup folder, and how to fix it."""

    message: str
    fix: str
    fatal: bool  # True: no backup can be written there; False: a warning


def backup_dir_problem(folder: Path) -> FolderProblem | None:
    """Judge an existing backup folder (changes nothing): the one place for these rules."""
    if not folder.is_dir():
        return FolderProblem(
            f"backup directory {folder} exists and is not a directory",
            "set LUMIDB_BACKUP_DIR to a directory",
            fatal=True,
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return FolderProblem(
            f"backup directory {folder} is not writable",
            "fix its permissions or set LUMIDB_BACKUP_DIR",
            fatal=True,
        )
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        return FolderProblem(
            f"backup directory {folder} is readable by others (mode {mode:04o}); "
            "backups hold all the data",
            f"chmod 700 {folder}",
            fatal=False,
        )
    return None


def ensure_backup_dir(folder: Path) -> list[str]:
    """Create the folder (mode 0700) if needed; return warnings about an existing one.

    A folder that cannot be created or written is a ``UsageError`` naming it.
    """
    if not folder.exists():
        try:
            folder.mkdir(parents=True, mode=DIR_MODE)
            folder.chmod(DIR_MODE)
        except OSError as exc:
            raise UsageError(
                f"cannot create backup directory {folder}: {exc.strerror or exc}",
                hint="set LUMIDB_BACKUP_DIR to a folder you can write",
            ) from None
    problem = backup_dir_problem(folder)
    if problem is None:
        return []
    if problem.fatal:
        raise UsageError(problem.message, hint=problem.fix)
    mode = folder.stat().st_mode & 0o777
    if folder.stat().st_uid == os.geteuid() and not list_backups(folder):
        # ours and no backup in it yet (git checks `backups/` out 0755): tighten it
        try:
            folder.chmod(DIR_MODE)
        except OSError:
            pass
        else:
            return [
                f"tightened backup directory {folder} from mode {mode:04o} to 0700 "
                "(it holds no backups yet; backups hold all the data)"
            ]
    return [f"{problem.message}: {problem.fix}"]


def _open_lock_file(backup_dir: Path) -> int:
    """Open (or create) the folder's lock file, never through a link.

    The lock file is truncated to hold the holder's pid, so a symbolic or hard link
    planted at its name would truncate another file: both are refused (exit 2).
    """
    lock = backup_dir / LOCK_NAME
    try:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"the lock file {lock} is a symbolic link; lumidb never writes through one",
                hint=f"remove it (rm {lock}) and check who put it there",
            ) from None
        raise UsageError(
            f"cannot use backup directory {backup_dir}: {exc.strerror or exc}",
            hint="set LUMIDB_BACKUP_DIR to a folder you can write",
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "is not a regular file" if not stat.S_ISREG(info.st_mode) else "has other links"
        raise UsageError(
            f"the lock file {lock} {what}; lumidb never writes through one",
            hint=f"remove it (rm {lock}) and check who put it there",
        )
    return fd


@contextmanager
def _dir_lock(backup_dir: Path, wait: bool) -> Iterator[None]:
    fd = _open_lock_file(backup_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RefusedError(
                f"another lumidb backup is running in {backup_dir}{who}",
                hint="use --wait to wait for it",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def backup_dir_lock(backup_dir: Path, *, wait: bool) -> AbstractContextManager[None]:
    """Hold the lock of a backup folder (an ``flock`` on ``.lumidb-backup.lock`` in it).

    A second holder is refused at once (``RefusedError``, exit 3) unless ``wait``.
    ``create_backup`` takes it on the folder it writes to (the backup dir, or its
    ``safety/`` folder for safety backups): do not hold it around ``create_backup``
    on the same folder, since ``flock`` locks of one process on two descriptors
    exclude each other too.
    """
    return _dir_lock(backup_dir, wait)


def remove_partials(folder: Path) -> list[Path]:
    """Remove temporary files (and links planted at temporary names) left by killed runs.

    Call it under the folder's lock.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        name = path.name
        if not (name.startswith(PARTIAL_PREFIX) and name.endswith(PARTIAL_SUFFIX)):
            continue
        if path.is_symlink() or path.is_file():
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


_BACKUP_NAME_RE = re.compile(
    r"^.+-\d{8}T\d{6}\.\d{3}Z(?:\.sql(?:\.zst|\.gz)?|\.dump)" + re.escape(MANIFEST_SUFFIX) + "$"
)


def remove_orphan_manifests(folder: Path) -> list[Path]:
    """Remove manifests of lumidb backups whose data file does not exist.

    A backup's manifest is written before its data file is renamed into place, and
    deleted after it, so a run killed in between leaves such a manifest (never a data
    file without one). Alone, it is not a backup. Call it under the folder's lock.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        if not _BACKUP_NAME_RE.match(path.name):
            continue
        data = path.with_name(path.name.removesuffix(MANIFEST_SUFFIX))
        if not os.path.lexists(data):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def create_partial(path: Path) -> tuple[Path, int]:
    """Create the temporary file of the backup at ``path``: a new file (0600), or an error.

    ``O_EXCL`` and ``O_NOFOLLOW``: whatever already sits at the temporary name (a
    leftover, a planted link) is never opened, so no other file is ever written.
    """
    partial = partial_path_of(path)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        raise UsageError(f"cannot write in {path.parent}: {exc.strerror or exc}") from None
    os.fchmod(fd, FILE_MODE)
    return partial, fd


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest of the backup at ``path`` atomically (0600); return its path."""
    target = manifest_path_of(path)
    temporary = partial_path_of(target)
    data = (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()
    temporary.unlink(missing_ok=True)  # a leftover or a planted link: never written through
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    temporary.replace(target)
    fsync_dir(path.parent)
    return target


def delete_backup(entry: BackupEntry) -> None:
    """Remove a backup: the data file first, so a half-deleted pair is a lone manifest
    (not a backup, and removed by the next backup run), never a data file without one."""
    entry.path.unlink(missing_ok=True)
    entry.manifest_path.unlink(missing_ok=True)


# --- reading ------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _entry_in(path: Path, default_kind: str) -> BackupEntry | None:
    """The entry of a data file, or None when it is not a backup."""
    name = path.name
    if is_temporary(name) or name.endswith(MANIFEST_SUFFIX) or name == LOCK_NAME:
        return None
    manifest_file = manifest_path_of(path)
    if manifest_file.is_file():
        manifest = _read_manifest(manifest_file)
        if manifest is None:
            return None
        kind = manifest.get("kind")
        return BackupEntry(path=path, manifest=manifest, kind=str(kind or default_kind))
    if _LEGACY_RE.match(name):
        return BackupEntry(path=path, manifest=None, kind=KIND_LEGACY)
    return None


def list_backups(backup_dir: Path, *, kinds: set[str] | None = None) -> list[BackupEntry]:
    """Every backup in the backup dir and its ``safety/`` folder, newest first.

    Temporary files and data files without a manifest (unless legacy) are left out. A
    missing directory has no backups. ``kinds`` keeps only those kinds.
    """
    entries: list[BackupEntry] = []
    for folder, default_kind in (
        (backup_dir, KIND_BACKUP),
        (backup_dir / SAFETY_DIR, KIND_SAFETY),
    ):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if not path.is_file():
                continue
            entry = _entry_in(path, default_kind)
            if entry is not None and (kinds is None or entry.kind in kinds):
                entries.append(entry)
    entries.sort(key=lambda e: (e.when, e.path.name), reverse=True)
    return entries


def load_entry(path: Path) -> BackupEntry:
    """The backup at ``path`` (for ``--file``); ``UsageError`` if missing or not a backup.

    A plain or custom file without a manifest is accepted as ``legacy`` (the caller
    warns), but temporary files and manifests themselves are refused.
    """
    if not path.exists():
        raise UsageError(f"backup file {path} not found")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    name = path.name
    if is_temporary(name):
        raise UsageError(f"{path} is a temporary file of an unfinished backup, not a backup")
    if name.endswith(MANIFEST_SUFFIX):
        raise UsageError(
            f"{path} is a manifest; give the backup file beside it",
            hint=f"use {path.name.removesuffix(MANIFEST_SUFFIX)}",
        )
    default_kind = KIND_SAFETY if path.parent.name == SAFETY_DIR else KIND_BACKUP
    entry = _entry_in(path, default_kind)
    if entry is not None:
        return entry
    if manifest_path_of(path).exists():
        raise UsageError(f"the manifest of {path} is unreadable")
    if not name.endswith((".sql", ".sql.gz", ".sql.zst", ".dump")):
        raise UsageError(f"{path} is not a backup (expected .sql, .sql.gz, .sql.zst or .dump)")
    return BackupEntry(path=path, manifest=None, kind=KIND_LEGACY)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_matches(entry: BackupEntry) -> bool | None:
    """Whether the file's size and SHA-256 match its manifest; None without a manifest."""
    if entry.manifest is None:
        return None
    try:
        if entry.path.stat().st_size != entry.manifest.get("size"):
            return False
        return file_sha256(entry.path) == entry.manifest.get("sha256")
    except OSError:
        return False


@contextmanager
def _sql_stream(entry: BackupEntry) -> Iterator[BinaryIO]:
    if entry.format != "plain":
        raise UsageError(f"{entry.path.name} is a custom-format dump, not plain SQL")
    compression = entry.compression
    try:
        raw = entry.path.open("rb")
    except OSError as exc:
        raise OperationError(f"cannot read {entry.path}: {exc.strerror or exc}") from None
    with raw:
        if compression == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            with reader:
                yield reader
        elif compression == "gzip":
            import gzip

            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield cast(BinaryIO, unzipped)
        else:
            yield raw


def open_sql_stream(entry: BackupEntry) -> AbstractContextManager[BinaryIO]:
    """The plain SQL of a backup, decompressed on the fly (zstd, gzip or none).

    Decompression errors of a damaged file surface while reading (``zstandard.ZstdError``,
    ``gzip.BadGzipFile``, ``EOFError``); a custom-format dump is a ``UsageError``.
    """
    return _sql_stream(entry)
