"""The retention planner alone: pure decisions over entries and ``now`` (nothing deleted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_backup_store import fake_backup

from lumidb import backup_read, backup_store
from lumidb.backup_store import BackupEntry
from lumidb.retention import SafetyRetention, newest_good, plan_keep, plan_prune, plan_safety

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def entries_of(folder: Path, kind: str = "backup") -> list[BackupEntry]:
    return backup_store.list_backups(folder, kinds={kind})


def test_keep_and_safety_plans_never_touch_the_new_backup_nor_other_databases(
    tmp_path: Path,
) -> None:
    for days in range(4):
        fake_backup(tmp_path, NOW - timedelta(days=days))
    fake_backup(tmp_path, NOW - timedelta(days=9), database="other")
    entries = entries_of(tmp_path)
    made = entries[0].name
    doomed = plan_keep(entries, made=made, keep=2, now=NOW)
    assert [e.name for e in doomed] == [e.name for e in entries[2:4]]
    future = fake_backup(tmp_path / "safety", NOW + timedelta(hours=1), kind="safety")
    for days in (1, 2, 30):
        fake_backup(tmp_path / "safety", NOW - timedelta(days=days), kind="safety")
    safety = entries_of(tmp_path, "safety")
    made = next(e.name for e in safety if e.when == NOW - timedelta(days=30))
    rule = SafetyRetention(keep_last=1, keep_days=1, max_count=5)
    doomed = plan_safety(safety, made=made, rule=rule, now=NOW)
    assert [e.when for e in doomed] == [NOW - timedelta(days=2)]  # 30 days old, but just made
    assert future.exists() and all(p.exists() for p in tmp_path.iterdir())  # a plan deletes nothing


def test_the_newest_good_backup_is_always_kept(tmp_path: Path) -> None:
    paths = [fake_backup(tmp_path, NOW - timedelta(days=days)) for days in range(3)]
    for damaged in paths[:2]:
        damaged.write_bytes(b"x" * len(damaged.read_bytes()))  # same size, other bytes
    entries = entries_of(tmp_path)
    chosen, skipped = newest_good(entries, backup_read.checksum_matches)
    assert chosen is not None and chosen.path == paths[2] and len(skipped) == 2
    verdicts = plan_prune(
        entries,
        [],
        keep_last=1,
        keep_daily=0,
        keep_weekly=0,
        rule=SafetyRetention(),
        now=NOW,
        good=backup_read.checksum_matches,
    )
    reasons = {v.entry.path: v.reason for v in verdicts}
    assert reasons == {paths[0]: "last", paths[1]: None, paths[2]: "newest good"}
