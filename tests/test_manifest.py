"""The typed manifest: version 1 as lumidb has always written it, and validation on read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lumidb import backup_read, backup_store
from lumidb.errors import UsageError
from lumidb.formats import BackupFormat, BackupKind, Compression
from lumidb.manifest import read_manifest

# Written by lumidb before the typed manifest (create_backup's dict, json.dumps indent=2).
V1 = """{
  "manifest_version": 1,
  "kind": "backup",
  "file": "lumiai-20261125T154705.718Z.sql.zst",
  "format": "plain",
  "compression": "zstd",
  "size": 5,
  "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
  "database": "lumiai",
  "host": "127.0.0.1",
  "port": 5432,
  "user": "lumiai",
  "schema": "public",
  "server_version": "18.1",
  "pg_dump_version": "18.1",
  "alembic_revision": "0003",
  "environment": "development",
  "started_at": "2026-11-25T15:47:05.718Z",
  "finished_at": "2026-11-25T15:47:06.020Z",
  "row_counts": {
    "order items": 4,
    "users": 5
  },
  "lumidb_version": "0.1.0"
}
"""


def test_a_version_1_manifest_reads_and_writes_back_the_same() -> None:
    manifest, reason = read_manifest(V1.encode())
    assert manifest is not None, reason
    assert manifest.kind == BackupKind.BACKUP and manifest.format == BackupFormat.PLAIN
    assert manifest.compression == Compression.ZSTD and manifest.db_schema == "public"
    assert manifest.started_at == datetime(2026, 11, 25, 15, 47, 5, 718000, tzinfo=UTC)
    assert manifest.row_counts == {"order items": 4, "users": 5}
    assert json.loads(manifest.to_json()) == json.loads(V1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": "big"}, "its manifest is invalid (size:"),
        ({"sha256": "xyz"}, "its manifest is invalid (sha256:"),
        ({"format": "tar"}, "its manifest is invalid (format:"),
        ({"kind": "legacy"}, "its manifest is invalid (kind:"),
        ({"started_at": "yesterday"}, "its manifest is invalid (started_at:"),
        ({"row_counts": {"users": "many"}}, "its manifest is invalid (row_counts.users:"),
        ({"manifest_version": 2}, "version 2, written by a newer lumidb"),
    ],
)
def test_an_invalid_manifest_says_why(change: dict[str, object], reason: str) -> None:
    document = {**json.loads(V1), **change}
    manifest, why = read_manifest(json.dumps(document).encode())
    assert (manifest is None and why.startswith(reason)) or reason in why, why


def test_not_json_or_not_an_object() -> None:
    assert read_manifest(b"{")[1] == "its manifest is not valid JSON"
    assert read_manifest(b"[1]")[1] == "its manifest is not a JSON object"
    assert (
        "database: Field required, and 1 more"
        in read_manifest(b'{"file": "x", "size": 1, "sha256": "' + b"0" * 64 + b'"}')[1]
    )


def test_a_backup_with_an_invalid_manifest_is_not_a_backup(tmp_path: Path) -> None:
    data = tmp_path / "lumiai-20261125T154705.718Z.sql.zst"
    data.write_bytes(b"hello")
    manifest = backup_store.manifest_path_of(data)
    manifest.write_text(V1)
    (entry,) = backup_store.list_backups(tmp_path)
    assert backup_read.checksum_matches(entry) is True  # sha256 of b"hello"
    manifest.write_text(V1.replace('"size": 5', '"size": -5'))
    assert backup_store.list_backups(tmp_path) == []
    with pytest.raises(UsageError, match=r"is not a backup: its manifest is invalid \(size:"):
        backup_store.load_entry(data)
