"""``backups prune``: the retention plan carried out, under the backup folder's lock.

``retention.plan_prune`` decides (grandfather-father-son for normal backups, the safety
rule for safety backups, the newest good backup always kept); this module lists the
folder, plans, and deletes. Legacy files are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lumidb import backup_read, backup_store
from lumidb.backup_store import BackupEntry
from lumidb.errors import UsageError
from lumidb.formats import BackupKind, format_time
from lumidb.retention import SafetyRetention, plan_prune
from lumidb.storage import SAFETY_FOLDER, BackupLocation
from lumidb.storage.location import absolute_location, open_storage


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
    backup_dir: BackupLocation,
    *,
    keep_last: int,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    safety_retention: SafetyRetention | None = None,
    now: datetime,
    dry_run: bool = False,
    wait: bool = False,
) -> PrunePlan:
    """Delete the backups beyond retention (ages at ``now``), or only say which on a dry run."""
    rule = safety_retention or SafetyRetention()
    if keep_last < 1:
        raise UsageError("--keep-last must be at least 1")
    if keep_daily < 0 or keep_weekly < 0:
        raise UsageError("--keep-daily and --keep-weekly cannot be negative")
    backup_dir = absolute_location(backup_dir)
    plan = PrunePlan(str(backup_dir), keep_last, keep_daily, keep_weekly, rule, dry_run, [], [], [])
    if isinstance(backup_dir, Path) and not backup_dir.is_dir():
        return plan
    store = open_storage(backup_dir)
    with store.lock(wait=wait), store.lock(SAFETY_FOLDER, wait=wait):
        for folder in ("", SAFETY_FOLDER):  # what killed runs left, under the locks
            store.remove_leftovers(folder)
            backup_store.remove_orphan_manifests(store, folder)
        verdicts = plan_prune(
            backup_store.list_entries(store, kinds={BackupKind.BACKUP}),
            backup_store.list_entries(store, kinds={BackupKind.SAFETY}),
            keep_last=keep_last,
            keep_daily=keep_daily,
            keep_weekly=keep_weekly,
            rule=rule,
            now=now,
            good=backup_read.checksum_matches,
        )
        for verdict in verdicts:
            if verdict.reason is not None:
                plan.keep.append(_item(verdict.entry, verdict.reason))
                continue
            plan.delete.append(_item(verdict.entry, "beyond retention"))
            if not dry_run:
                backup_store.delete_backup(verdict.entry)
                plan.deleted.append(verdict.entry.label)
    return plan


def _item(entry: BackupEntry, reason: str) -> PruneItem:
    started = entry.started_at
    return PruneItem(
        file=entry.label,
        backup_kind=entry.kind.value,
        database=entry.database,
        started_at=format_time(started) if started else None,
        reason=reason,
    )
