"""What a backup's manifest says: a typed, versioned model, validated when read.

The manifest is written beside each backup (``<file>.manifest.json``). A manifest that
is not JSON, not an object, or fails this model makes its backup "not a backup", with
the reason ``read_manifest`` gives. Version 1 is what lumidb has written from the start
(older lumidb wrote every field here; test-made ones may lack the optional ones); a
newer version is refused with a clear reason rather than half understood.

Row counts are keyed by the bare table name (unquoted, without the schema: ``users``,
``order items``); the schema is the manifest's ``schema`` field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from lumidb.formats import BackupFormat, BackupKind, Compression, format_time

MANIFEST_VERSION = 1


class Manifest(BaseModel):
    """A backup's manifest (version 1): the file, its checksum, where it came from, its rows."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    manifest_version: Literal[1] = 1
    kind: BackupKind = BackupKind.BACKUP  # never legacy: a legacy file has no manifest
    file: str
    format: BackupFormat = BackupFormat.PLAIN
    compression: Compression = Compression.NONE
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    database: str = Field(min_length=1)
    host: str | None = None
    port: int | None = None
    user: str | None = None
    db_schema: str | None = Field(default=None, alias="schema")
    server_version: str | None = None
    pg_dump_version: str | None = None
    alembic_revision: str | None = None
    environment: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    row_counts: dict[str, int] = Field(default_factory=dict)
    lumidb_version: str | None = None

    @field_validator("kind")
    @classmethod
    def _not_legacy(cls, value: BackupKind) -> BackupKind:
        if value == BackupKind.LEGACY:
            raise ValueError("a backup with a manifest is of kind backup or safety")
        return value

    @field_validator("started_at", "finished_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    @field_serializer("started_at", "finished_at")
    def _as_text(self, value: datetime | None) -> str | None:
        return None if value is None else format_time(value)

    def to_json(self) -> bytes:
        """The manifest as stored: indented JSON, fields in order, a final newline."""
        document = self.model_dump(mode="json", by_alias=True)
        return (json.dumps(document, indent=2) + "\n").encode()


def read_manifest(data: bytes) -> tuple[Manifest | None, str]:
    """The manifest in ``data``, or None and why it is not one (for "not a backup" messages)."""
    try:
        document = json.loads(data)
    except ValueError:
        return None, "its manifest is not valid JSON"
    if not isinstance(document, dict):
        return None, "its manifest is not a JSON object"
    version = document.get("manifest_version", MANIFEST_VERSION)
    if isinstance(version, int) and version > MANIFEST_VERSION:
        return None, (
            f"its manifest is version {version}, written by a newer lumidb "
            f"(this one reads version {MANIFEST_VERSION}): update lumidb"
        )
    try:
        return Manifest.model_validate(document), ""
    except ValidationError as exc:
        return None, f"its manifest is invalid ({_first_error(exc)})"


def _first_error(exc: ValidationError) -> str:
    """The first validation error in one line: ``size: Input should be …``."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "manifest"
    more = f", and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"
