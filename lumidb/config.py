"""Settings: read once from the environment, then from ``.env`` in the current directory.

The LumiAI application's own ``.env`` works as it is: ``DATABASE_URL`` (Prisma's form
included), ``DIRECT_URL`` and ``NODE_ENV`` are read under their usual names; lumidb's
own settings carry the ``LUMIDB_`` prefix.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lumidb.errors import UsageError

if TYPE_CHECKING:
    from lumidb.retention import SafetyRetention

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
    admin_email: str = Field(default="admin@lumiai.com", validation_alias="LUMIDB_ADMIN_EMAIL")
    admin_password: SecretStr | None = Field(default=None, validation_alias="LUMIDB_ADMIN_PASSWORD")
    safety_keep_last: int = Field(default=5, ge=1, validation_alias="LUMIDB_SAFETY_KEEP_LAST")
    safety_keep_days: float = Field(default=7.0, ge=0, validation_alias="LUMIDB_SAFETY_KEEP_DAYS")
    safety_max: int = Field(default=20, ge=1, validation_alias="LUMIDB_SAFETY_MAX")

    @field_validator(
        "database_url", "direct_url", "node_env", "lumidb_env", "admin_password", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def lumidb_environment(self) -> Environment | None:
        """``LUMIDB_ENV`` as lumidb's own value; anything else is a ``UsageError`` (exit 2)."""
        if self.lumidb_env is None:
            return None
        try:
            return Environment(self.lumidb_env.strip().lower())
        except ValueError:
            allowed = ", ".join(e.value for e in Environment)
            raise UsageError(
                f"LUMIDB_ENV={self.lumidb_env!r} is not an environment lumidb knows; "
                f"use one of {allowed}"
            ) from None

    @property
    def node_environment(self) -> Environment | None:
        """``NODE_ENV`` when it is one of lumidb's values, else None (unset or unknown)."""
        if self.node_env is None:
            return None
        try:
            return Environment(self.node_env.strip().lower())
        except ValueError:
            return None

    @property
    def production_reason(self) -> str | None:
        """Why the shell counts as production, or None.

        ``LUMIDB_ENV`` and ``NODE_ENV`` are checked independently: either one saying
        production is enough. A ``NODE_ENV`` lumidb does not know (``staging``, ``qa``)
        is guarded like production, since Node apps use such names for shared servers.
        """
        lumidb_env = self.lumidb_environment
        if lumidb_env is Environment.PRODUCTION:
            return "LUMIDB_ENV=production"
        if self.node_env is not None:
            node_env = self.node_environment
            if node_env is Environment.PRODUCTION:
                return "NODE_ENV=production"
            if node_env is None:
                return f"NODE_ENV={self.node_env.strip()} (not development or test)"
        return None

    @property
    def environment(self) -> Environment:
        """The shell's environment as the guards see it: production when either variable
        says so (or ``NODE_ENV`` is unknown), else ``LUMIDB_ENV``, ``NODE_ENV``, development."""
        if self.production_reason is not None:
            return Environment.PRODUCTION
        return self.lumidb_environment or self.node_environment or Environment.DEVELOPMENT

    @property
    def environment_to_record(self) -> Environment | None:
        """What ``migrate deploy`` may record: None for an unknown ``NODE_ENV`` such as
        ``staging`` (guarded like production, but not recorded as production: the record
        is left as it is)."""
        lumidb_env = self.lumidb_environment
        node_env = self.node_environment
        if Environment.PRODUCTION in (lumidb_env, node_env):
            return Environment.PRODUCTION
        if lumidb_env is not None:
            return lumidb_env
        if self.node_env is not None and node_env is None:
            return None
        return node_env or Environment.DEVELOPMENT

    @property
    def safety_retention(self) -> SafetyRetention:
        from lumidb.retention import SafetyRetention

        return SafetyRetention(
            keep_last=self.safety_keep_last,
            keep_days=self.safety_keep_days,
            max_count=self.safety_max,
        )

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
