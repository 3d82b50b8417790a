"""verify_backup: a backup's checksum and a restore into a scratch database, then dropped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from test_restore import backup, seed, sql

from lumidb.backup_store import load_entry
from lumidb.connection import DatabaseTarget
from lumidb.verify import verify_backup

# --- verify_backup -----------------------------------------------------------------


def test_verify_backup_ok_and_mismatch(db: DatabaseTarget, tmp_path: Path) -> None:
    seed(db)
    path = backup(db, tmp_path / "backups")
    entry = load_entry(path)
    result = verify_backup(entry, target=db, pg_bin_dir=None)
    assert result.ok, result.differences
    assert result.row_counts["users"] == 5
    assert entry.manifest is not None
    altered = entry.manifest.model_copy(
        update={"row_counts": {**entry.manifest.row_counts, "users": 99}}
    )
    bad = verify_backup(replace(entry, manifest=altered), target=db, pg_bin_dir=None)
    assert not bad.ok
    assert any("users" in d and "99" in d for d in bad.differences)
    left = sql(db, "SELECT datname FROM pg_database WHERE datname LIKE 'lumidb_verify_%'")
    assert left == []
