"""Reading a backup's bytes: its checksum, its plain SQL decompressed on the fly, and a
local file of it for ``pg_restore`` (the object itself, or a checked private download).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from lumidb.backup_store import BackupEntry
from lumidb.errors import OperationError, UsageError
from lumidb.formats import BackupFormat, Compression
from lumidb.storage.location import open_storage

_DOWNLOAD_CHUNK = 1 << 20

if TYPE_CHECKING:
    from lumidb.storage import BackupStorage


def sha256_of(store: BackupStorage, name: str) -> str:
    with store.open_read(name) as handle:
        return hashlib.file_digest(cast("io.BufferedReader", handle), "sha256").hexdigest()


def checksum_matches(entry: BackupEntry) -> bool | None:
    """Whether the data's size and SHA-256 match its manifest; None without a manifest."""
    if entry.manifest is None:
        return None
    if entry.size != entry.manifest.size:
        return False
    try:
        return sha256_of(entry.store, entry.name) == entry.manifest.sha256
    except (OSError, UsageError):
        return False


@contextmanager
def _sql_stream(entry: BackupEntry) -> Iterator[BinaryIO]:
    if entry.format != BackupFormat.PLAIN:
        raise UsageError(f"{entry.file_name} is a custom-format dump, not plain SQL")
    with ExitStack() as stack:
        try:
            raw = stack.enter_context(entry.store.open_read(entry.name))
        except UsageError as exc:  # gone or replaced since it was listed
            raise OperationError(exc.message) from None
        if entry.compression == Compression.ZSTD:
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            with reader:
                yield reader
        elif entry.compression == Compression.GZIP:
            import gzip

            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield cast(BinaryIO, unzipped)
        else:
            yield raw


@contextmanager
def _local_file(entry: BackupEntry) -> Iterator[Path]:
    path = entry.store.local_path(entry.name)
    if path is not None:
        yield path
        return

    with tempfile.TemporaryDirectory(prefix="lumidb-download-") as folder:  # 0700
        copy = Path(folder) / entry.file_name
        digest = hashlib.sha256()
        size = 0
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with entry.store.open_read(entry.name) as source:
                while chunk := source.read(_DOWNLOAD_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
        except UsageError as exc:  # gone since it was listed
            raise OperationError(exc.message) from None
        except OSError as exc:
            raise OperationError(
                f"cannot download {entry.label} to a temporary file: {exc.strerror or exc}",
                hint="free space in the temporary folder (TMPDIR)",
            ) from None
        finally:
            os.close(fd)
        manifest = entry.manifest
        if manifest is not None and (
            size != manifest.size or digest.hexdigest() != manifest.sha256
        ):
            raise OperationError(
                f"{entry.label} changed since it was checked: it no longer matches its manifest",
                hint="run the command again; if it repeats, the object is being replaced",
            )
        yield copy


def local_file(entry: BackupEntry) -> AbstractContextManager[Path]:
    """A seekable local file of the backup's data, for programs that need one (``pg_restore``).

    A local backup is its own file. A remote one is downloaded into a private temporary
    folder (0700, the file 0600), checked against its manifest's size and SHA-256 as it
    arrives (an object replaced since it was checked is refused), and removed when the
    block ends, whatever happens.
    """
    return _local_file(entry)


@contextmanager
def _local_copy(entry: BackupEntry) -> Iterator[BackupEntry]:
    if entry.store.local_path(entry.name) is not None:
        yield entry
        return
    with _local_file(entry) as path:
        yield BackupEntry(open_storage(path.parent), path.name, entry.manifest, entry.kind)


def local_copy(entry: BackupEntry) -> AbstractContextManager[BackupEntry]:
    """The backup itself when local, else an entry over its checked temporary download
    (``local_file``), so several steps (check, then load) read one copy."""
    return _local_copy(entry)


def open_sql_stream(entry: BackupEntry) -> AbstractContextManager[BinaryIO]:
    """The plain SQL of a backup, decompressed on the fly (zstd, gzip or none).

    Decompression errors of a damaged file surface while reading (``zstandard.ZstdError``,
    ``gzip.BadGzipFile``, ``EOFError``); a custom-format dump is a ``UsageError``.
    """
    return _sql_stream(entry)
