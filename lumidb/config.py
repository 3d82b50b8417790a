"""Settings: read once from the environment, then from ``.env`` in the current directory.

The LumiAI application's own ``.env`` works as it is: ``DATABASE_URL`` (Prisma's form
included), ``DIRECT_URL`` and ``NODE_ENV`` are read under their usual names; lumidb's
own settings carry the ``LUMIDB_`` prefix.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lumidb.errors import UsageError

ENV_FILE = ".env"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every setting lumidb reads, with the variable that sets it."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    direct_url: SecretStr | None = Field(default=None, validation_alias="DIRECT_URL")
    node_env: str | None = Field(default=None, validation_alias="NODE_ENV")
    lumidb_env: str | None = Field(default=None, validation_alias="LUMIDB_ENV")
    backup_dir: Path = Field(default=Path("backups"), validation_alias="LUMIDB_BACKUP_DIR")
    backup_keep: int | None = Field(default=None, ge=1, validation_alias="LUMIDB_BACKUP_KEEP")
    state_dir: Path = Field(default=Path(".lumidb"), validation_alias="LUMIDB_STATE_DIR")
    pg_bin_dir: Path | None = Field(default=None, validation_alias="LUMIDB_PG_BIN_DIR")
    lock_timeout: float = Field(
        default=30.0, ge=0, validation_alias=AliasChoices("LUMIDB_LOCK_TIMEOUT")
    )
    connect_timeout: int = Field(default=5, ge=1, validation_alias="LUMIDB_CONNECT_TIMEOUT")
    restore_lock_timeout: float = Field(
        default=10.0, ge=0, validation_alias="LUMIDB_RESTORE_LOCK_TIMEOUT"
    )
    purge_older_than: str = Field(default="0", validation_alias="LUMIDB_PURGE_OLDER_THAN")
    purge_batch: int = Field(default=5000, ge=1, validation_alias="LUMIDB_PURGE_BATCH")

    @field_validator("database_url", "direct_url", "node_env", "lumidb_env", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def environment(self) -> Environment:
        """``LUMIDB_ENV``, else ``NODE_ENV``, else development."""
        raw = self.lumidb_env or self.node_env or Environment.DEVELOPMENT.value
        try:
            return Environment(raw.strip().lower())
        except ValueError:
            source = "LUMIDB_ENV" if self.lumidb_env else "NODE_ENV"
            allowed = ", ".join(e.value for e in Environment)
            raise UsageError(
                f"{source}={raw!r} is not an environment lumidb knows; use one of {allowed}"
            ) from None

    @property
    def url_setting(self) -> tuple[str, str] | None:
        """The URL to use and the variable it came from: ``DIRECT_URL`` wins over ``DATABASE_URL``."""
        if self.direct_url is not None:
            return "DIRECT_URL", self.direct_url.get_secret_value()
        if self.database_url is not None:
            return "DATABASE_URL", self.database_url.get_secret_value()
        return None


def load_settings() -> Settings:
    """Build the settings once; a bad value is a usage error (exit 2) that names the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "settings"
        raise UsageError(f"invalid setting {where}: {first['msg']}") from None


def setting_sources(names: list[str]) -> dict[str, str]:
    """Where each named variable came from: ``environment``, ``.env`` or ``default``."""
    from dotenv import dotenv_values

    file_values = dotenv_values(ENV_FILE) if Path(ENV_FILE).is_file() else {}
    sources: dict[str, str] = {}
    for name in names:
        if os.environ.get(name):
            sources[name] = "environment"
        elif file_values.get(name):
            sources[name] = ENV_FILE
        else:
            sources[name] = "default"
    return sources
