"""What a backup is in a backup location: the pair (data + manifest), found, read and written.

A backup is a data object and, beside it, ``<name>.manifest.json``; the pair is a backup
only once both exist. Publishing puts the manifest in place first and the data last
(``pending_backup``); deleting removes the data first. So a kill leaves at most a lone
manifest (not a backup; ``remove_orphan_manifests`` takes it away), never a data object
without one. The old scripts' ``backup-*.sql`` files (no manifest) are listed as
``legacy``. Safety backups (undo copies taken before a destructive command) live in the
``safety/`` folder and are kept apart everywhere. Everything goes through a
``BackupStorage`` (``lumidb.storage``); a local entry also has its ``path``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lumidb.errors import OperationError, UsageError
from lumidb.formats import (
    BackupFormat,
    BackupKind,
    Compression,
    compression_of_name,
    format_of_name,
)
from lumidb.storage import (
    MANIFEST_SUFFIX,
    SAFETY_FOLDER,
    BackupLocation,
    StoredObject,
    StoreProblem,
)
from lumidb.storage.local import PARTIAL_PREFIX
from lumidb.storage.location import open_storage

if TYPE_CHECKING:
    from lumidb.manifest import Manifest
    from lumidb.storage import BackupStorage, Upload

# Kept for the restore code, which names kinds through this module.
KIND_BACKUP = BackupKind.BACKUP
KIND_SAFETY = BackupKind.SAFETY

_LEGACY_RE = re.compile(r"^backup-.*\.sql$")
_BACKUP_MANIFEST_RE = re.compile(
    r"^.+-\d{8}T\d{6}\.\d{3}Z(?:\.sql(?:\.zst|\.gz)?|\.dump)" + re.escape(MANIFEST_SUFFIX) + "$"
)
_DATA_SUFFIXES = (".sql", ".sql.gz", ".sql.zst", ".dump")


@dataclass(frozen=True)
class BackupEntry:
    """One backup in a location: its data object, its manifest (None for legacy), its kind."""

    store: BackupStorage
    name: str  # relative to the location: "lumiai-….sql.zst" or "safety/lumiai-….sql.zst"
    manifest: Manifest | None
    kind: BackupKind
    stored: StoredObject | None = None  # size and time as the store listed them

    @property
    def path(self) -> Path:
        """The data file, for a local location (restore reads local files by path)."""
        path = self.store.local_path(self.name)
        if path is None:
            raise OperationError(f"{self.label} is not a local file")
        return path

    @property
    def label(self) -> str:
        """How people see the backup: its full path or URL."""
        local = self.store.local_path(self.name)
        return str(local) if local is not None else f"{self.store.location}/{self.name}"

    @property
    def file_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def manifest_name(self) -> str:
        return self.name + MANIFEST_SUFFIX

    @property
    def started_at(self) -> datetime | None:
        """When the dump started (from the manifest); None for legacy files."""
        return self.manifest.started_at if self.manifest is not None else None

    @property
    def when(self) -> datetime:
        """The time used for ordering and retention (UTC): the manifest's start, else the mtime."""
        if self.manifest is not None:
            return self.manifest.started_at
        if self.stored is not None:
            return self.stored.modified
        return datetime.fromtimestamp(0, tz=UTC)

    @property
    def database(self) -> str | None:
        return self.manifest.database if self.manifest is not None else None

    @property
    def format(self) -> BackupFormat:
        if self.manifest is not None:
            return self.manifest.format
        return format_of_name(self.name)

    @property
    def compression(self) -> Compression:
        if self.manifest is not None:
            return self.manifest.compression
        return compression_of_name(self.name)

    @property
    def size(self) -> int:
        """Size of the data as stored (bytes); -1 when it is gone."""
        return self.stored.size if self.stored is not None else -1

    @property
    def alembic_revision(self) -> str | None:
        return self.manifest.alembic_revision if self.manifest is not None else None


# --- names -------------------------------------------------------------------------


def extension_for(format: str, compression: str) -> str:
    """The file extension of a format and compression; ``UsageError`` for a bad pair."""
    from lumidb import formats

    try:
        chosen = BackupFormat(format)
    except ValueError:
        raise UsageError(
            f"unknown backup format {format!r}; use one of {', '.join(BackupFormat)}"
        ) from None
    try:
        packed = Compression(compression)
    except ValueError:
        raise UsageError(
            f"unknown compression {compression!r}; use one of {', '.join(Compression)}"
        ) from None
    return formats.extension_for(chosen, packed)


def format_stamp(when: datetime) -> str:
    """``20261124T143800.482Z``: sortable, millisecond precision, UTC."""
    when = when.astimezone(UTC)
    return f"{when.strftime('%Y%m%dT%H%M%S')}.{when.microsecond // 1000:03d}Z"


def folder_for(kind: BackupKind) -> str:
    """Where backups of a kind go: the location itself, or its ``safety/`` folder."""
    return SAFETY_FOLDER if kind == BackupKind.SAFETY else ""


def manifest_path_of(path: Path) -> Path:
    """The manifest file beside a local data file."""
    return path.with_name(path.name + MANIFEST_SUFFIX)


def new_backup_name(
    store: BackupStorage, folder: str, database: str, extension: str, when: datetime
) -> str:
    """A fresh, unique name in ``folder``; a millisecond is added while the name is taken.

    Call it while holding the folder's lock, so two runs cannot pick the same name.
    """
    safe_db = re.sub(r"[^A-Za-z0-9_.-]", "_", database) or "database"
    prefix = f"{folder}/" if folder else ""
    taken = {item.name for item in store.objects(folder)}
    for _ in range(10_000):
        name = f"{prefix}{safe_db}-{format_stamp(when)}{extension}"
        if name not in taken and name + MANIFEST_SUFFIX not in taken:
            return name
        when += timedelta(milliseconds=1)
    raise OperationError(f"could not find a free backup name in {store.location}")


# --- the local folder, for the callers that hold a path -------------------------------


def backup_dir_problem(folder: BackupLocation) -> StoreProblem | None:
    """Judge an existing backup folder (changes nothing); ``doctor`` shows it."""
    return open_storage(folder).problem()


def ensure_backup_dir(folder: BackupLocation) -> list[str]:
    """Create the folder (mode 0700) if needed; return warnings about an existing one."""
    return open_storage(folder).prepare()


def backup_dir_lock(folder: BackupLocation, *, wait: bool) -> AbstractContextManager[None]:
    """Hold the lock of a backup folder (exit 3 for a second holder unless ``wait``)."""
    return open_storage(folder).lock(wait=wait)


# --- listing and loading --------------------------------------------------------------


def _entry_of(
    store: BackupStorage,
    item: StoredObject,
    names: set[str],
    default_kind: BackupKind,
    *,
    folder_decides: bool = True,
) -> tuple[BackupEntry | None, str]:
    """The entry of a data object, or None and why it is not a backup.

    In a listing the folder decides the kind (``safety/`` holds safety backups, the top
    the normal ones): a manifest that claims the other kind is not believed. A manifest
    naming another file than the object beside it is not this object's.
    """
    from lumidb.manifest import read_manifest

    name = item.name
    if name.endswith(MANIFEST_SUFFIX):
        return None, "it is a manifest"
    if name + MANIFEST_SUFFIX in names:
        data = store.read_small(name + MANIFEST_SUFFIX)
        if data is None:
            return None, "its manifest is unreadable or too large"
        manifest, reason = read_manifest(data)
        if manifest is None:
            return None, reason
        base = name.rsplit("/", 1)[-1]
        if manifest.file != base:
            return None, "its manifest is of another file"
        kind = manifest.kind if "kind" in manifest.model_fields_set else default_kind
        if folder_decides and kind != default_kind:
            return None, f"its manifest says {kind.value}, but it is not in that folder"
        return BackupEntry(store, name, manifest, kind, item), ""
    if _LEGACY_RE.match(item.name.rsplit("/", 1)[-1]):
        return BackupEntry(store, name, None, BackupKind.LEGACY, item), ""
    return None, "it has no manifest"


def shown_name(name: str) -> str:
    """A stored name as it may reach a terminal: control and format characters escaped."""
    if not any(_unprintable(ch) for ch in name):
        return name
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if _unprintable(ch) else ch for ch in name
    )


def _unprintable(ch: str) -> bool:
    import unicodedata

    return unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}


def list_entries(
    store: BackupStorage,
    *,
    kinds: set[BackupKind] | set[str] | None = None,
    notes: list[str] | None = None,
) -> list[BackupEntry]:
    """Every backup in the location and its ``safety/`` folder, newest first.

    Temporary objects, data without a valid manifest (unless legacy) and lone manifests
    are left out. A missing location has no backups. ``kinds`` keeps only those kinds.
    An object whose name holds control or format characters (ESC, U+202E, a newline) is
    never a backup. ``notes`` (when given) gets a line for each object left out that
    looked like a backup: a bad name, a manifest unreadable, too large or not its own.
    """
    entries: list[BackupEntry] = []
    for folder, default_kind in (("", BackupKind.BACKUP), (SAFETY_FOLDER, BackupKind.SAFETY)):
        items = store.objects(folder)
        names = {item.name for item in items}
        for item in items:
            if any(_unprintable(ch) for ch in item.name):
                if notes is not None and not item.name.endswith(MANIFEST_SUFFIX):
                    notes.append(
                        f"skipped {shown_name(item.name)}: its name has control characters"
                    )
                continue
            entry, reason = _entry_of(store, item, names, default_kind)
            if entry is None and notes is not None and item.name + MANIFEST_SUFFIX in names:
                notes.append(f"skipped {item.name}: {reason}")
            if entry is not None and (kinds is None or entry.kind in kinds):
                entries.append(entry)
    entries.sort(key=lambda e: (e.when, e.file_name), reverse=True)
    return entries


def list_backups(
    backup_dir: BackupLocation,
    *,
    kinds: set[BackupKind] | set[str] | None = None,
    notes: list[str] | None = None,
) -> list[BackupEntry]:
    """``list_entries`` of the backup folder at ``backup_dir``."""
    return list_entries(open_storage(backup_dir), kinds=kinds, notes=notes)


def load_entry(path: Path | str) -> BackupEntry:
    """The backup at ``path`` (for ``--file``): a file, or an object's ``s3://`` URL.

    ``UsageError`` if missing or not a backup. A plain or custom file without a manifest
    is accepted as ``legacy`` (the caller warns), but temporary files and manifests
    themselves are refused. A link given here is followed: the user named it.
    """
    from lumidb.storage.location import looks_like_s3

    if isinstance(path, str) and looks_like_s3(path):
        return _load_remote_entry(path)
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if not path.exists():
        raise UsageError(f"backup file {path} not found")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    return _load_named(open_storage(path.parent), path.name, str(path), path.parent.name)


def _load_remote_entry(url: str) -> BackupEntry:
    from lumidb.storage.s3 import S3Storage
    from lumidb.storage.s3_access import S3Location, parse_s3_url

    where = parse_s3_url(url)
    parent, _, name = where.prefix.rpartition("/")
    if not name:
        raise UsageError(
            f"{where.url} names a bucket, not a backup",
            hint="give the backup's full URL, e.g. s3://BUCKET/PREFIX/NAME.sql.zst",
        )
    store = S3Storage(S3Location(where.bucket, parent))
    return _load_named(store, name, where.url, parent.rpartition("/")[2])


def _load_named(store: BackupStorage, name: str, shown: str, parent_name: str) -> BackupEntry:
    """The entry of ``name`` directly in ``store``'s location (``shown`` in messages)."""
    if name.startswith(PARTIAL_PREFIX):
        raise UsageError(f"{shown} is a temporary file of an unfinished backup, not a backup")
    if name.endswith(MANIFEST_SUFFIX):
        raise UsageError(
            f"{shown} is a manifest; give the backup file beside it",
            hint=f"use {name.removesuffix(MANIFEST_SUFFIX)}",
        )
    items = {item.name: item for item in store.objects()}
    item = items.get(name)
    if item is None:
        raise UsageError(f"backup {shown} not found")
    default_kind = BackupKind.SAFETY if parent_name == SAFETY_FOLDER else BackupKind.BACKUP
    entry, reason = _entry_of(store, item, set(items), default_kind, folder_decides=False)
    if entry is not None:
        return entry
    if name + MANIFEST_SUFFIX in items:
        raise UsageError(
            f"{shown} is not a backup: {reason}",
            hint="restore another backup, or move the manifest away to restore it as an "
            "old script's file",
        )
    if not name.endswith(_DATA_SUFFIXES):
        raise UsageError(f"{shown} is not a backup (expected .sql, .sql.gz, .sql.zst or .dump)")
    return BackupEntry(store, name, None, BackupKind.LEGACY, item)


# --- writing and deleting -----------------------------------------------------------


class PendingBackup:
    """A backup being written: its data goes to ``upload``, then ``seal`` writes its manifest."""

    def __init__(self, store: BackupStorage, name: str, upload: Upload) -> None:
        self.store = store
        self.name = name
        self.upload = upload
        self.sealed = False

    def seal(self, manifest: Manifest) -> None:
        """Write the manifest; the data is published when the ``pending_backup`` block ends."""
        self.store.write_small(self.name + MANIFEST_SUFFIX, manifest.to_json())
        self.sealed = True


@contextmanager
def pending_backup(store: BackupStorage, name: str) -> Iterator[PendingBackup]:
    """Write a new backup ``name``: published (manifest first, then data) only when the block
    ends without an exception after ``seal``; otherwise neither name is left."""
    try:
        with store.upload(name) as upload:
            pending = PendingBackup(store, name, upload)
            yield pending
            if not pending.sealed:
                raise OperationError(f"the backup {name} has no manifest; it was not kept")
    except BaseException:
        store.delete(name + MANIFEST_SUFFIX)
        raise


def delete_backup(entry: BackupEntry) -> None:
    """Remove a backup: the data first, so a half-deleted pair is a lone manifest (not a
    backup, and removed by the next backup run), never data without a manifest."""
    entry.store.delete(entry.name)
    if entry.manifest is not None:
        entry.store.delete(entry.manifest_name)


def remove_orphan_manifests(store: BackupStorage, folder: str = "") -> list[str]:
    """Remove manifests of lumidb backups whose data object does not exist.

    A run killed between writing the manifest and publishing the data leaves one; alone,
    it is not a backup. Call it under the folder's lock.
    """
    items = store.objects(folder)
    names = {item.name for item in items}
    removed: list[str] = []
    for item in items:
        if not _BACKUP_MANIFEST_RE.match(item.name.rsplit("/", 1)[-1]):
            continue
        if item.name.removesuffix(MANIFEST_SUFFIX) not in names:
            store.delete(item.name)
            removed.append(item.name)
    return removed
