"""``backups list``: every backup in the backup location, newest first, with its checksum state.

Listing reads the manifests, not the data: a backup whose size differs from its manifest
is a ``mismatch``, any other is ``unchecked`` unless ``check`` asks for the SHA-256 of
every file (``backups list --check``; ``backups verify`` and ``restore-latest`` always
check the backup they use). A cache of checksums by size and mtime was not chosen: bit
rot and in-place damage keep both, so a cached "ok" would claim a check that was not made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lumidb import backup_read, backup_store
from lumidb.formats import format_time
from lumidb.storage import BackupLocation
from lumidb.storage.location import absolute_location
from lumidb.timespec import age_seconds


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
    checksum: (
        str  # "ok" | "mismatch" | "unchecked" (size matches, not hashed) | "none" (no manifest)
    )


@dataclass(frozen=True)
class BackupListing:
    backup_dir: str
    backups: list[BackupSummary]
    warnings: list[str] = field(default_factory=list)  # objects left out that looked like backups


def list_backup_summaries(
    backup_dir: BackupLocation, *, now: datetime, check: bool = False
) -> BackupListing:
    """Every backup, newest first, with its age at ``now`` and its checksum state.

    Without ``check`` only sizes are compared (nothing but the manifests is read); with it
    every data file is read for its SHA-256.
    """
    backup_dir = absolute_location(backup_dir)
    summaries = []
    notes: list[str] = []
    for entry in backup_store.list_backups(backup_dir, notes=notes):
        started = entry.started_at
        summaries.append(
            BackupSummary(
                file=entry.label,
                backup_kind=entry.kind.value,
                database=entry.database,
                started_at=format_time(started) if started else None,
                age_seconds=age_seconds(entry.when, now),
                size=entry.size,
                format=entry.format.value,
                compression=entry.compression.value,
                alembic_revision=entry.alembic_revision,
                checksum=_checksum_state(entry, check),
            )
        )
    shown = backup_store.shown_name(str(backup_dir))
    return BackupListing(backup_dir=shown, backups=summaries, warnings=notes)


def _checksum_state(entry: backup_store.BackupEntry, check: bool) -> str:
    if entry.manifest is None:
        return "none"
    if entry.size != entry.manifest.size:
        return "mismatch"
    if not check:
        return "unchecked"
    return "ok" if backup_read.checksum_matches(entry) else "mismatch"
