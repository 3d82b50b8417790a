"""``backups list``: every backup in the backup location, newest first, with its checksum state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lumidb import backup_store
from lumidb.formats import format_time
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


def list_backup_summaries(backup_dir: Path, *, now: datetime) -> BackupListing:
    """Every backup, newest first, with its checksum state and age at ``now`` (reads every file)."""
    backup_dir = backup_dir.absolute()
    summaries = []
    for entry in backup_store.list_backups(backup_dir):
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
    return BackupListing(backup_dir=str(backup_dir), backups=summaries)
