"""The local folder behind ``BackupStorage``: publish only on success, locks, planted links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lumidb import backup_store
from lumidb.errors import OperationError, RefusedError, UsageError
from lumidb.storage.local import LOCK_NAME, LocalFolder, partial_path_of
from lumidb.storage.location import open_storage

NAME = "lumiai-20261124T143800.482Z.sql"


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_an_upload_is_published_only_when_its_block_succeeds(tmp_path: Path) -> None:
    store = LocalFolder(tmp_path / "backups")
    assert store.prepare("safety") == []
    assert (tmp_path / "backups").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "backups" / "safety").stat().st_mode & 0o777 == 0o700
    with store.upload(f"safety/{NAME}") as upload:
        upload.write(b"half ")
        assert store.objects("safety") == []  # written, not yet published
        upload.write(memoryview(b"and the rest"))
    (item,) = store.objects("safety")
    assert (item.name, item.size) == (f"safety/{NAME}", len(b"half and the rest"))
    path = store.local_path(item.name)
    assert path is not None and path.read_bytes() == b"half and the rest"
    assert path.stat().st_mode & 0o777 == 0o600
    with store.open_read(item.name) as handle:
        assert handle.read() == b"half and the rest"


def test_nothing_is_visible_after_an_exception(tmp_path: Path) -> None:
    store = LocalFolder(tmp_path)
    with pytest.raises(KeyboardInterrupt), store.upload(NAME) as upload:
        upload.write(b"some data")
        raise KeyboardInterrupt
    assert store.objects() == [] and names_in(tmp_path) == []


def test_a_backup_without_a_manifest_or_with_a_failure_after_it_leaves_nothing(
    tmp_path: Path,
) -> None:
    store = LocalFolder(tmp_path)
    with (
        pytest.raises(OperationError, match="no manifest"),
        backup_store.pending_backup(store, NAME) as pending,
    ):
        pending.upload.write(b"data")
    assert names_in(tmp_path) == []
    assert backup_store.list_entries(store) == []
    with pytest.raises(RuntimeError), backup_store.pending_backup(store, NAME) as pending:
        pending.upload.write(b"data")
        store.write_small(NAME + backup_store.MANIFEST_SUFFIX, b"{}")
        raise RuntimeError("after the manifest, before the data is published")
    assert names_in(tmp_path) == []


def test_a_held_lock_is_refused_with_its_holder(tmp_path: Path) -> None:
    store = open_storage(tmp_path)
    with store.lock(wait=False):
        with (
            pytest.raises(RefusedError, match=f"pid {os.getpid()}") as caught,
            LocalFolder(tmp_path).lock(wait=False),
        ):
            pass
        assert caught.value.exit_code == 3
        with store.lock("safety", wait=False):  # another folder, another lock
            pass
    with store.lock(wait=False):
        pass
    assert (tmp_path / LOCK_NAME).stat().st_size == 0  # the pid goes with the holder


def test_planted_links_are_never_objects_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    secret = tmp_path / "secret.sql"
    secret.write_bytes(b"not yours")
    (folder / NAME).symlink_to(secret)
    (folder / (NAME + backup_store.MANIFEST_SUFFIX)).symlink_to(secret)
    (folder / "safety").symlink_to(tmp_path)  # a folder link is no folder of backups
    store = LocalFolder(folder)
    assert store.objects() == []
    with pytest.raises(UsageError, match="symbolic link"), store.open_read(NAME):
        pass
    assert store.read_small(NAME + backup_store.MANIFEST_SUFFIX) is None
    with pytest.raises(UsageError, match="not a name inside"):
        store.open_read("../secret.sql")
    assert backup_store.list_entries(store) == []


def test_leftovers_and_hidden_names_are_not_objects(tmp_path: Path) -> None:
    store = LocalFolder(tmp_path)
    partial_path_of(tmp_path / NAME).write_bytes(b"killed")
    (tmp_path / ".gitignore").write_text("*\n")
    (tmp_path / LOCK_NAME).write_text("")
    assert store.objects() == []
    assert store.remove_leftovers() == [partial_path_of(tmp_path / NAME).name]
    assert names_in(tmp_path) == [".gitignore", LOCK_NAME]
    assert store.objects("missing") == [] and store.remove_leftovers("missing") == []
