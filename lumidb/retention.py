"""The retention of safety backups: a few recent undo copies, capped, so they never fill the disk.

Safety backups are the undo copies that ``restore-latest``, ``reset`` and ``purge``
take before they change anything. Each database keeps its newest ``keep_last`` and any
newer than ``keep_days``, but never more than ``max_count``. ``plan_safety_retention``
is a pure function of the backups and ``now``; ``apply_safety_retention`` runs it and
deletes, and ``backup.create_backup`` calls it right after every safety backup it
writes, so every command that takes one gets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lumidb import backup_store
from lumidb.backup_store import BackupEntry


@dataclass(frozen=True)
class SafetyRetention:
    """Settable with LUMIDB_SAFETY_KEEP_LAST, LUMIDB_SAFETY_KEEP_DAYS and LUMIDB_SAFETY_MAX."""

    keep_last: int = 5
    keep_days: float = 7.0
    max_count: int = 20


@dataclass(frozen=True)
class RetentionDecision:
    entry: BackupEntry
    keep: bool
    reason: str


def plan_safety_retention(
    entries: list[BackupEntry], policy: SafetyRetention, *, now: datetime
) -> list[RetentionDecision]:
    """Keep or delete each safety backup, and why; ``entries`` newest first, one database."""
    decisions: list[RetentionDecision] = []
    kept = 0
    recent = now - timedelta(days=policy.keep_days)
    for index, entry in enumerate(entries):
        if index < policy.keep_last:
            reason = f"one of the newest {policy.keep_last}"
        elif entry.when >= recent:
            reason = f"newer than {policy.keep_days:g} days"
        else:
            decisions.append(
                RetentionDecision(
                    entry,
                    False,
                    f"older than {policy.keep_days:g} days and not in the newest {policy.keep_last}",
                )
            )
            continue
        if kept >= policy.max_count:
            decisions.append(
                RetentionDecision(
                    entry, False, f"beyond the cap of {policy.max_count} safety backups"
                )
            )
            continue
        kept += 1
        decisions.append(RetentionDecision(entry, True, reason))
    return decisions


def safety_decisions(
    backup_dir: Path, policy: SafetyRetention, *, now: datetime
) -> list[RetentionDecision]:
    """The plan for every database's safety backups in ``backup_dir``."""
    by_database: dict[str, list[BackupEntry]] = {}
    for entry in backup_store.list_backups(backup_dir, kinds={backup_store.KIND_SAFETY}):
        by_database.setdefault(str((entry.manifest or {}).get("database", "")), []).append(entry)
    decisions: list[RetentionDecision] = []
    for group in by_database.values():
        decisions += plan_safety_retention(group, policy, now=now)
    return decisions


def apply_safety_retention(
    backup_dir: Path, policy: SafetyRetention, *, now: datetime, keep: Path | None = None
) -> list[str]:
    """Delete the safety backups the plan does not keep (never ``keep``); return their paths."""
    deleted: list[str] = []
    for decision in safety_decisions(backup_dir, policy, now=now):
        if not decision.keep and decision.entry.path != keep:
            backup_store.delete_backup(decision.entry)
            deleted.append(str(decision.entry.path))
    return deleted
