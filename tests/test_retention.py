"""Safety-backup retention: newest 5, anything newer than 7 days, never more than 20."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import Cli

from lumidb import backup_store
from lumidb.connection import DatabaseTarget
from lumidb.retention import SafetyRetention, apply_safety_retention, plan_safety_retention

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def fake_safety(folder: Path, database: str, when: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{database}-{backup_store.format_stamp(when)}.sql"
    path.write_text("-- dump\n")
    backup_store.write_manifest(
        path,
        {"kind": "safety", "database": database, "started_at": backup_store.format_time(when)},
    )
    return path


def test_plan_keeps_newest_recent_and_caps(tmp_path: Path) -> None:
    safety = tmp_path / "safety"
    # 25 in the last 3 days (hourly-ish) and 5 old ones
    for hours in range(25):
        fake_safety(safety, "lumiai", NOW - timedelta(hours=3 * hours))
    for days in range(10, 15):
        fake_safety(safety, "lumiai", NOW - timedelta(days=days))
    entries = backup_store.list_backups(tmp_path, kinds={"safety"})
    decisions = plan_safety_retention(entries, SafetyRetention(), now=NOW)
    kept = [d for d in decisions if d.keep]
    assert len(kept) == 20
    assert [d.keep for d in decisions[:20]] == [True] * 20
    assert decisions[3].reason == "one of the newest 5"
    assert decisions[10].reason == "newer than 7 days"
    assert "cap of 20" in decisions[21].reason
    assert "older than 7 days" in decisions[-1].reason


def test_few_old_ones_keep_the_newest_five(tmp_path: Path) -> None:
    safety = tmp_path / "safety"
    for days in range(30, 38):
        fake_safety(safety, "lumiai", NOW - timedelta(days=days))
    fake_safety(safety, "other", NOW - timedelta(days=90))
    deleted = apply_safety_retention(tmp_path, SafetyRetention(), now=NOW)
    assert len(deleted) == 3
    left = backup_store.list_backups(tmp_path, kinds={"safety"})
    assert len(left) == 6  # 5 of lumiai, the only one of other


def test_settings_change_the_policy(tmp_path: Path) -> None:
    safety = tmp_path / "safety"
    for hours in range(6):
        fake_safety(safety, "lumiai", NOW - timedelta(hours=hours))
    policy = SafetyRetention(keep_last=2, keep_days=0, max_count=3)
    assert len(apply_safety_retention(tmp_path, policy, now=NOW)) == 4


def test_safety_backup_applies_retention_and_prune_shows_them(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    backups = cli.workdir / "backups"
    old = [
        fake_safety(backups / "safety", db.dbname, datetime(2020, 1, d, tzinfo=UTC))
        for d in range(1, 9)
    ]
    shown = cli("backups", "prune", "--keep-last", "3", "--dry-run")
    assert shown.exit_code == 0, shown.stderr
    assert "safety: one of the newest 5" in shown.stdout
    assert "would delete" in shown.stdout and "older than 7 days" in shown.stdout
    assert all(p.exists() for p in old)
    cli.setenv("LUMIDB_SAFETY_KEEP_LAST", "2")
    result = cli("reset", "--yes", "--no-seed", "--json")
    assert result.exit_code == 0, result.stderr
    left = sorted(p.name for p in (backups / "safety").glob("*.sql*") if "manifest" not in p.name)
    assert len(left) == 2 and Path(result.json()["safety_backup"]).name in left
