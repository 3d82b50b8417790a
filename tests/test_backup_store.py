"""The backup file layout: names, listing, manifests, checksums, the folder lock."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard

from lumidb import backup_read, backup_store
from lumidb.errors import RefusedError, UsageError
from lumidb.formats import format_time
from lumidb.storage.local import LOCK_NAME, LocalFolder, partial_path_of

SQL = b"-- dump\nCOPY public.users (id) FROM stdin;\n1\n\\.\n"


def fake_backup(
    folder: Path,
    when: datetime,
    *,
    kind: str = "backup",
    compression: str = "none",
    database: str = "lumiai",
    data: bytes = SQL,
) -> Path:
    """A backup pair written the way create_backup writes it (no pg_dump needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    if compression == "zstd":
        stored = zstandard.ZstdCompressor(level=3).compress(data)
    elif compression == "gzip":
        stored = gzip.compress(data)
    else:
        stored = data
    ext = backup_store.extension_for("plain", compression)
    path = folder / backup_store.new_backup_name(LocalFolder(folder), "", database, ext, when)
    path.write_bytes(stored)
    write_manifest(
        path,
        {
            "manifest_version": 1,
            "kind": kind,
            "file": path.name,
            "format": "plain",
            "compression": compression,
            "size": len(stored),
            "sha256": hashlib.sha256(stored).hexdigest(),
            "database": database,
            "started_at": format_time(when),
            "alembic_revision": "0001",
            "row_counts": {"users": 1},
        },
    )
    return path


def write_manifest(path: Path, document: dict[str, object]) -> None:
    """A manifest as lumidb 0.x wrote it (``json.dumps`` of a dict, mode 0600)."""
    manifest = backup_store.manifest_path_of(path)
    manifest.write_text(json.dumps(document, indent=2) + "\n")
    manifest.chmod(0o600)


NOW = datetime(2026, 11, 24, 14, 38, 0, 482000, tzinfo=UTC)


def test_names_sort_by_time_and_stay_unique(tmp_path: Path) -> None:
    first = fake_backup(tmp_path, NOW)
    second = fake_backup(tmp_path, NOW)  # same millisecond: bumped
    assert first.name == "lumiai-20261124T143800.482Z.sql"
    assert second.name == "lumiai-20261124T143800.483Z.sql"
    assert backup_store.extension_for("plain", "zstd") == ".sql.zst"
    assert backup_store.extension_for("plain", "gzip") == ".sql.gz"
    assert backup_store.extension_for("custom", "zstd") == ".dump"
    with pytest.raises(UsageError):
        backup_store.extension_for("tar", "none")
    with pytest.raises(UsageError):
        backup_store.extension_for("plain", "lz4")
    assert oct(backup_store.manifest_path_of(first).stat().st_mode & 0o777) == "0o600"


def test_listing_newest_first_skips_temporary_and_incomplete(tmp_path: Path) -> None:
    old = fake_backup(tmp_path, NOW - timedelta(days=2))
    new = fake_backup(tmp_path, NOW)
    safety = fake_backup(tmp_path / "safety", NOW - timedelta(days=1), kind="safety")
    legacy = tmp_path / "backup-2024-01-01T00:00:00.sql"
    legacy.write_bytes(SQL)
    os.utime(legacy, (0, 0))
    (tmp_path / ".lumiai-20261124T150000.000Z.sql.zst.partial").write_bytes(b"half")
    (tmp_path / "lumiai-20261124T160000.000Z.sql.zst").write_bytes(b"no manifest yet")
    entries = backup_store.list_backups(tmp_path)
    assert [e.path for e in entries] == [new, safety, old, legacy]
    assert [e.kind for e in entries] == ["backup", "safety", "backup", "legacy"]
    assert backup_store.list_backups(tmp_path, kinds={"backup"})[0].path == new
    assert backup_store.list_backups(tmp_path / "missing") == []
    assert entries[0].started_at == NOW and entries[-1].started_at is None


def test_checksum_and_streams(tmp_path: Path) -> None:
    for compression in ("zstd", "gzip", "none"):
        path = fake_backup(tmp_path, NOW, compression=compression)
        entry = backup_store.load_entry(path)
        assert backup_read.checksum_matches(entry) is True
        with backup_read.open_sql_stream(entry) as stream:
            assert stream.read() == SQL
    damaged = fake_backup(tmp_path, NOW, compression="zstd")
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert backup_read.checksum_matches(backup_store.load_entry(damaged)) is False
    legacy = tmp_path / "backup-old.sql"
    legacy.write_bytes(SQL)
    assert backup_read.checksum_matches(backup_store.load_entry(legacy)) is None


def test_load_entry_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        backup_store.load_entry(tmp_path / "nope.sql")
    partial = tmp_path / ".x.sql.partial"
    partial.write_bytes(b"")
    with pytest.raises(UsageError, match="temporary"):
        backup_store.load_entry(partial)
    path = fake_backup(tmp_path, NOW)
    with pytest.raises(UsageError, match="manifest"):
        backup_store.load_entry(backup_store.manifest_path_of(path))
    entry = backup_store.load_entry(path)
    assert (entry.path, entry.kind, entry.store) == (path, "backup", LocalFolder(tmp_path))
    assert json.loads(backup_store.manifest_path_of(path).read_text())["file"] == path.name


def test_dir_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with backup_store.backup_dir_lock(tmp_path, wait=False):
        with (
            pytest.raises(RefusedError, match=f"pid {os.getpid()}") as caught,
            backup_store.backup_dir_lock(tmp_path, wait=False),
        ):
            pass
        assert caught.value.exit_code == 3
    with backup_store.backup_dir_lock(tmp_path, wait=False):
        pass


def test_backup_dir_modes(tmp_path: Path) -> None:
    fresh = tmp_path / "a" / "backups"
    assert backup_store.ensure_backup_dir(fresh) == []
    assert fresh.stat().st_mode & 0o777 == 0o700
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    (loose / "backup-2024-11-24.sql").write_text("-- an old script's backup\n")
    (warning,) = backup_store.ensure_backup_dir(loose)  # holds backups: left to the user
    assert "readable by others" in warning and "0755" in warning
    assert loose.stat().st_mode & 0o777 == 0o755
    cloned = tmp_path / "cloned"  # as git checks backups/ out: 0755, only a .gitignore
    cloned.mkdir()
    cloned.chmod(0o755)
    (cloned / ".gitignore").write_text("*\n")
    (notice,) = backup_store.ensure_backup_dir(cloned)
    assert "tightened" in notice and "0755" in notice
    assert cloned.stat().st_mode & 0o777 == 0o700
    assert backup_store.ensure_backup_dir(cloned) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError):
        backup_store.ensure_backup_dir(blocker / "backups")


# --- links planted in the folder --------------------------------------------------


def victim_file(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("precious contents\n")
    return victim


def test_a_link_at_the_lock_file_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    victim = victim_file(tmp_path)
    (folder / LOCK_NAME).symlink_to(victim)
    with (
        pytest.raises(UsageError, match="symbolic link") as caught,
        backup_store.backup_dir_lock(folder, wait=False),
    ):
        pass
    assert caught.value.exit_code == 2
    assert victim.read_text() == "precious contents\n"
    (folder / LOCK_NAME).unlink()
    os.link(victim, folder / LOCK_NAME)  # a hard link truncates as well
    with pytest.raises(UsageError), backup_store.backup_dir_lock(folder, wait=False):
        pass
    assert victim.read_text() == "precious contents\n"


def test_a_link_at_a_temporary_name_is_never_followed(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    store = LocalFolder(folder)
    victim = victim_file(tmp_path)
    name = "lumiai-20261124T143800.482Z.sql"
    partial_path_of(folder / name).symlink_to(victim)
    with pytest.raises(UsageError, match="cannot write"), store.upload(name) as upload:
        upload.write(b"never")
    assert victim.read_text() == "precious contents\n"
    (folder / name).write_bytes(SQL)
    manifest_name = name + backup_store.MANIFEST_SUFFIX
    manifest_partial = partial_path_of(folder / manifest_name)
    manifest_partial.symlink_to(victim)
    store.write_small(manifest_name, b'{"file": "x"}')
    assert victim.read_text() == "precious contents\n"
    assert json.loads((folder / manifest_name).read_text()) == {"file": "x"}
    assert not manifest_partial.is_symlink()
    dangling = folder / ".lumiai-20261124T150000.000Z.sql.zst.partial"
    dangling.symlink_to(tmp_path / "nowhere")
    assert dangling.name in store.remove_leftovers()
    assert not dangling.is_symlink()
