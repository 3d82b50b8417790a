"""The backup formats and compressions lumidb writes: one pair of enums and their extensions.

Used by the ``backup`` command's options, ``BackupOptions``, the manifest and the
listing alike. Kept free of heavy imports: the command module reads it at start-up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class BackupFormat(StrEnum):
    """How pg_dump writes the backup: plain SQL, or its custom archive (``pg_restore --jobs``)."""

    PLAIN = "plain"
    CUSTOM = "custom"


class Compression(StrEnum):
    """How lumidb compresses a plain dump; a custom archive uses pg_dump's own (``none``)."""

    ZSTD = "zstd"
    GZIP = "gzip"
    NONE = "none"


class BackupKind(StrEnum):
    """A normal backup, a safety backup (an undo copy), or an old script's file (no manifest)."""

    BACKUP = "backup"
    SAFETY = "safety"
    LEGACY = "legacy"


EXTENSIONS = {
    (BackupFormat.PLAIN, Compression.ZSTD): ".sql.zst",
    (BackupFormat.PLAIN, Compression.GZIP): ".sql.gz",
    (BackupFormat.PLAIN, Compression.NONE): ".sql",
    (BackupFormat.CUSTOM, Compression.NONE): ".dump",
}


def stored_compression(format: BackupFormat, compression: Compression) -> Compression:
    """The compression lumidb applies: a custom archive is never wrapped."""
    return Compression.NONE if format == BackupFormat.CUSTOM else compression


def extension_for(format: BackupFormat, compression: Compression) -> str:
    """The file extension of a format and compression (``.sql.zst``, ``.dump``, …)."""
    return EXTENSIONS[(format, stored_compression(format, compression))]


def format_of_name(name: str) -> BackupFormat:
    """The format of a file without a manifest, from its name."""
    return BackupFormat.CUSTOM if name.endswith(".dump") else BackupFormat.PLAIN


def compression_of_name(name: str) -> Compression:
    """The compression of a file without a manifest, from its name."""
    if name.endswith(".zst"):
        return Compression.ZSTD
    if name.endswith(".gz"):
        return Compression.GZIP
    return Compression.NONE


def format_time(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds, as manifests and listings show it."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
