"""From a backup location setting to its store (one place): a path, later an s3:// URL.

A folder path is a ``LocalFolder``; ``s3://bucket/prefix`` comes next (``storage.s3``).
Kept apart from the contract (``lumidb.storage``) so that the implementations, which
import the contract, are not imported by it.
"""

from __future__ import annotations

from pathlib import Path

from lumidb.storage import BackupStorage


def open_storage(location: str | Path) -> BackupStorage:
    """The store behind a backup location: today a folder path (``LocalFolder``)."""
    from lumidb.storage.local import LocalFolder

    return LocalFolder(Path(location))
