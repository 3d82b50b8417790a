"""Settings: read once from the environment, then from ``.env`` in the project root.

The LumiAI application's own ``.env`` works as it is: ``DATABASE_URL`` (Prisma's form
included), ``DIRECT_URL`` and ``NODE_ENV`` are read under their usual names; lumidb's
own settings carry the ``LUMIDB_`` prefix.

The project root is found as git and uv find theirs (``find_project_root``), so lumidb
works the same from any subfolder: ``.env``, the local server's ``.lumidb/`` and the
default ``backups/`` all live there. A relative ``LUMIDB_BACKUP_DIR`` or
``LUMIDB_STATE_DIR`` set in the environment is relative to the current folder (as any
path typed in a shell is); one written in the root's ``.env`` is relative to the root.
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
STATE_DIR_NAME = ".lumidb"
BACKUP_DIR_NAME = "backups"
ROOT_MARKERS = (".git", "pyproject.toml")


def find_project_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder upwards holding ``.lumidb/``, else ``.git`` or
    ``pyproject.toml``, else the current folder (``start``)."""
    here = (start or Path.cwd()).absolute()
    candidates = [here, *here.parents]
    for folder in candidates:
        if (folder / STATE_DIR_NAME).is_dir():
            return folder
    for folder in candidates:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return here


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
    # A folder (Path) or a checked s3://bucket/prefix URL (str): lumidb.storage.location.
    backup_dir: Path | str = Field(
        default=Path(BACKUP_DIR_NAME), validation_alias="LUMIDB_BACKUP_DIR"
    )
    backup_keep: int | None = Field(default=None, ge=1, validation_alias="LUMIDB_BACKUP_KEEP")
    state_dir: Path = Field(default=Path(STATE_DIR_NAME), validation_alias="LUMIDB_STATE_DIR")
    pg_bin_dir: Path | None = Field(default=None, validation_alias="LUMIDB_PG_BIN_DIR")
    lock_timeout: float = Field(
        default=30.0, ge=0, validation_alias=AliasChoices("LUMIDB_LOCK_TIMEOUT")
    )
    connect_timeout: int = Field(default=5, ge=1, validation_alias="LUMIDB_CONNECT_TIMEOUT")
    restore_lock_timeout: float = Field(
        default=10.0, ge=0, validation_alias="LUMIDB_RESTORE_LOCK_TIMEOUT"
    )
    safety_keep_last: int = Field(default=5, ge=1, validation_alias="LUMIDB_SAFETY_KEEP_LAST")
    safety_keep_days: int = Field(default=7, ge=0, validation_alias="LUMIDB_SAFETY_KEEP_DAYS")
    safety_max: int = Field(default=20, ge=1, validation_alias="LUMIDB_SAFETY_MAX")
    admin_email: str = Field(default="admin@lumiai.com", validation_alias="LUMIDB_ADMIN_EMAIL")
    admin_password: SecretStr | None = Field(default=None, validation_alias="LUMIDB_ADMIN_PASSWORD")
    purge_older_than: str = Field(default="0", validation_alias="LUMIDB_PURGE_OLDER_THAN")
    purge_batch: int = Field(default=5000, ge=1, validation_alias="LUMIDB_PURGE_BATCH")

    @property
    def safety_retention(self) -> SafetyRetention:
        """How many safety backups stay (``LUMIDB_SAFETY_*``)."""
        from lumidb.retention import SafetyRetention

        return SafetyRetention(
            keep_last=self.safety_keep_last,
            keep_days=self.safety_keep_days,
            max_count=max(self.safety_max, self.safety_keep_last),
        )

    @field_validator(
        "database_url", "direct_url", "node_env", "lumidb_env", "admin_password", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("backup_dir", mode="before")
    @classmethod
    def _backup_location(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        from lumidb.storage.location import parse_location

        try:
            return parse_location(value)
        except UsageError as exc:
            raise UsageError(f"LUMIDB_BACKUP_DIR: {exc.message}", hint=exc.hint) from None

    @property
    def environment(self) -> Environment:
        """What the shell says: production when ``LUMIDB_ENV`` or ``NODE_ENV`` says so.

        The two are checked independently (``LUMIDB_ENV=development NODE_ENV=production``
        is production). A ``NODE_ENV`` lumidb does not know (``staging``, ``qa``, common in
        Node apps) is guarded like production; ``LUMIDB_ENV`` must be one of lumidb's
        values. Otherwise ``LUMIDB_ENV``, else ``NODE_ENV``, else development.
        """
        lumidb_env = self._lumidb_env()
        node_env = self._node_env()
        if Environment.PRODUCTION in (lumidb_env, node_env):
            return Environment.PRODUCTION
        return lumidb_env or node_env or Environment.DEVELOPMENT

    @property
    def environment_to_record(self) -> Environment | None:
        """What ``migrate deploy`` records the database as: only what a variable declares.

        Production when either variable says ``production``; else ``LUMIDB_ENV``, else a
        known ``NODE_ENV``, else development. None for an unknown ``NODE_ENV``
        (``staging``): it is guarded like production, but a staging database is not
        recorded as production for good.
        """
        lumidb_env = self._lumidb_env()
        node_env = (self.node_env or "").strip().lower()
        if Environment.PRODUCTION in (lumidb_env, node_env):
            return Environment.PRODUCTION
        if lumidb_env is not None:
            return lumidb_env
        if not node_env:
            return Environment.DEVELOPMENT
        try:
            return Environment(node_env)
        except ValueError:
            return None

    def _lumidb_env(self) -> Environment | None:
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

    def _node_env(self) -> Environment | None:
        if self.node_env is None:
            return None
        try:
            return Environment(self.node_env.strip().lower())
        except ValueError:
            return Environment.PRODUCTION

    @property
    def url_setting(self) -> tuple[str, str] | None:
        """The URL to use and the variable it came from: ``DIRECT_URL`` wins over ``DATABASE_URL``."""
        if self.direct_url is not None:
            return "DIRECT_URL", self.direct_url.get_secret_value()
        if self.database_url is not None:
            return "DATABASE_URL", self.database_url.get_secret_value()
        return None


def load_settings(root: Path | None = None) -> Settings:
    """Build the settings once; a bad value is a usage error (exit 2) that names the variable.

    ``.env`` is read from the project root; the state and backup folders are made
    absolute (see the module's docstring for what a relative one is relative to).
    """
    root = root or find_project_root()
    try:
        settings = Settings(_env_file=root / ENV_FILE)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "settings"
        raise UsageError(f"invalid setting {where}: {first['msg']}") from None
    sources = setting_sources(["LUMIDB_STATE_DIR", "LUMIDB_BACKUP_DIR"], root=root)
    return settings.model_copy(
        update={
            "state_dir": _anchored(settings.state_dir, sources["LUMIDB_STATE_DIR"], root),
            "backup_dir": settings.backup_dir
            if isinstance(settings.backup_dir, str)
            else _anchored(settings.backup_dir, sources["LUMIDB_BACKUP_DIR"], root),
        }
    )


def _anchored(path: Path, source: str, root: Path) -> Path:
    """An absolute path: ``~`` expanded; relative to the current folder when it came from the
    environment, to the project root when it came from ``.env`` or is the default."""
    path = path.expanduser()
    if path.is_absolute():
        return path
    return (Path.cwd() / path) if source == "environment" else (root / path)


def setting_sources(names: list[str], *, root: Path | None = None) -> dict[str, str]:
    """Where each named variable came from: ``environment``, ``.env`` or ``default``."""
    from dotenv import dotenv_values

    env_file = (root or find_project_root()) / ENV_FILE
    file_values = dotenv_values(env_file) if env_file.is_file() else {}
    sources: dict[str, str] = {}
    for name in names:
        if os.environ.get(name):
            sources[name] = "environment"
        elif file_values.get(name):
            sources[name] = ENV_FILE
        else:
            sources[name] = "default"
    return sources
