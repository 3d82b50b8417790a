"""Where backups are kept: one interface, with a local folder and an S3 bucket behind it.

Everything above this package (formats, compression, checksums, manifests, retention,
verify, restore) talks to a ``BackupStorage`` and never to ``os`` or ``boto3`` directly.
Names are keys relative to the location, ``/``-separated: ``lumiai-….sql.zst`` for a
backup, ``safety/lumiai-….sql.zst`` for a safety backup, each with its manifest beside
it (``<name>.manifest.json``).

The contract every implementation keeps:

- ``upload(name)`` streams a data object; it becomes visible under ``name`` only when the
  ``with`` block ends without an exception (local: rename of a 0600 temporary file;
  S3: completing a multipart upload). An exception, a kill or a crash leaves nothing
  that ``objects`` reports under a backup's name (temporaries and incomplete uploads are
  removed by ``remove_leftovers`` under the lock).
- ``write_small`` replaces a small object (a manifest) atomically.
- ``lock(folder)`` excludes a second writer of that folder, here or on another machine
  for shared storage; a held lock is ``RefusedError`` naming the holder unless ``wait``.
- Reads never follow what a planted object could redirect (links, other buckets); sizes
  and names come from the store, contents are untrusted (the restore filter judges them).
- Nothing here prints, and no secret (credentials, signed URLs) appears in a message.

A location from the settings becomes a store in one place: ``storage.location.open_storage``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

SAFETY_FOLDER = "safety"
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class StoredObject:
    """One object of a backup location, as the store lists it."""

    name: str  # relative key, e.g. "lumiai-20261125T154705.718Z.sql.zst" or "safety/…"
    size: int  # bytes as stored
    modified: datetime  # UTC, when the store last wrote it


@dataclass(frozen=True)
class StoreProblem:
    """What is wrong with a backup location, and how to fix it."""

    message: str
    fix: str
    fatal: bool  # True: no backup can be written there; False: a warning


class Upload(Protocol):
    """The writable end of ``BackupStorage.upload``.

    A local upload also offers ``fileno()``, the descriptor of the seekable temporary
    file, so a child can write into it directly (``pg_dump -Fc`` keeps its data offsets
    only in a seekable file); callers check for it with ``getattr``.
    """

    def write(self, data: bytes | memoryview) -> None: ...


class BackupStorage(Protocol):
    """A backup location: a local folder or an S3 prefix."""

    @property
    def location(self) -> str:
        """For people and manifests: an absolute folder path or ``s3://bucket/prefix``."""
        ...

    def problem(self) -> StoreProblem | None:
        """Judge the location without changing anything (``doctor``, ``backups list``)."""
        ...

    def prepare(self, folder: str = "") -> list[str]:
        """Make ``folder`` usable for writing (create it 0700 …); return warnings.

        ``UsageError`` naming the location when it cannot be used.
        """
        ...

    def objects(self, folder: str = "") -> list[StoredObject]:
        """The objects directly in ``folder`` ("" or ``safety``); a missing folder is empty."""
        ...

    def open_read(self, name: str) -> AbstractContextManager[BinaryIO]:
        """Stream an object's bytes; ``UsageError`` when it does not exist."""
        ...

    def read_small(self, name: str, *, limit: int = 1 << 20) -> bytes | None:
        """A small object's bytes (a manifest); None when missing or larger than ``limit``."""
        ...

    def write_small(self, name: str, data: bytes) -> None:
        """Create or replace a small object atomically (owner-only where modes exist)."""
        ...

    def upload(self, name: str) -> AbstractContextManager[Upload]:
        """Stream a new object; published under ``name`` only if the block succeeds."""
        ...

    def delete(self, name: str) -> None:
        """Remove an object; a missing one is not an error."""
        ...

    def lock(self, folder: str = "", *, wait: bool) -> AbstractContextManager[None]:
        """Exclude other writers of ``folder``; ``RefusedError`` naming the holder."""
        ...

    def remove_leftovers(self, folder: str = "") -> list[str]:
        """Remove what killed runs left (temporaries, incomplete uploads); call under the lock."""
        ...

    def local_path(self, name: str) -> Path | None:
        """The file behind ``name`` when the store is a local folder, else None.

        For tools that need a seekable file (``pg_restore --jobs``); remote stores
        return None and the caller downloads to a private temporary file.
        """
        ...
