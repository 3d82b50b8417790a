"""Retention of safety backups: a few recent undo copies per database, never filling the disk.

Safety backups are the undo copies that ``restore-latest``, ``reset`` and ``purge`` take
before they change anything. They are pruned right after each one is written (by
``backup.create_backup``) and by ``backups prune``, under the folder's lock: per database,
the newest ``keep_last`` and every one newer than ``keep_days`` days stay, but never more
than ``max_count``. The clock is a parameter (``now``); ages are measured in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lumidb import backup_store
from lumidb.backup_store import BackupEntry


@dataclass(frozen=True)
class SafetyRetention:
    """How many safety backups stay: the newest N, any newer than D days, at most M."""

    keep_last: int = 5
    keep_days: int = 7
    max_count: int = 20


def safety_reasons(
    entries: list[BackupEntry], rule: SafetyRetention, now: datetime
) -> dict[Path, str]:
    """Why each kept safety backup of one database (``entries`` newest first) is kept."""
    reasons: dict[Path, str] = {}
    recent_since = now - timedelta(days=rule.keep_days)
    for position, entry in enumerate(entries):
        if len(reasons) >= rule.max_count:
            break
        why = []
        if position < rule.keep_last:
            why.append("last")
        if entry.when >= recent_since:
            why.append(f"newer than {rule.keep_days}d")
        if why:
            reasons[entry.path] = ", ".join(why)
    return reasons


Source = tuple[str, str, str, str]  # (database, host, port, schema) of a manifest


def source_of(entry: BackupEntry) -> Source:
    """Which database a backup is of: two servers' ``lumiai`` are two databases."""
    manifest = entry.manifest or {}
    return tuple(  # type: ignore[return-value]
        str(manifest.get(key) or "") for key in ("database", "host", "port", "schema")
    )


def by_database(entries: list[BackupEntry]) -> dict[Source, list[BackupEntry]]:
    """Entries grouped by the database they are of (name, host, port, schema), newest first."""
    groups: dict[Source, list[BackupEntry]] = {}
    for entry in entries:
        groups.setdefault(source_of(entry), []).append(entry)
    return groups


def prune_safety_backups(
    backup_dir: Path, made: Path, rule: SafetyRetention, now: datetime
) -> list[str]:
    """Delete the safety backups of ``made``'s database beyond ``rule``, never ``made``
    itself (whatever the clocks say); call it under the folder's lock."""
    safety = backup_store.list_backups(backup_dir, kinds={backup_store.KIND_SAFETY})
    mine = next((entry for entry in safety if entry.path == made), None)
    if mine is None:
        return []
    entries = by_database(safety)[source_of(mine)]
    kept = safety_reasons(entries, rule, now)
    doomed = [entry for entry in entries if entry.path not in kept and entry.path != made]
    for entry in doomed:
        backup_store.delete_backup(entry)
    return [str(entry.path) for entry in doomed]
