"""``backups list``: every backup in the backup location, newest first, with its checksum state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lumidb import backup_store
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
    checksum: str  # "ok" | "mismatch" | "none" (no manifest)


@dataclass(frozen=True)
class BackupListing:
    backup_dir: str
    backups: list[BackupSummary]
    warnings: list[str] = field(default_factory=list)  # objects left out that looked like backups


def list_backup_summaries(backup_dir: BackupLocation, *, now: datetime) -> BackupListing:
    """Every backup, newest first, with its checksum state and age at ``now`` (reads every file)."""
    backup_dir = absolute_location(backup_dir)
    summaries = []
    notes: list[str] = []
    for entry in backup_store.list_backups(backup_dir, notes=notes):
        matches = backup_store.checksum_matches(entry)
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
                checksum="none" if matches is None else ("ok" if matches else "mismatch"),
            )
        )
    shown = backup_store.shown_name(str(backup_dir))
    return BackupListing(backup_dir=shown, backups=summaries, warnings=notes)
