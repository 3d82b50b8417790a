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

import copy
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


class Secret:
    """A value that is never shown: ``str`` and ``repr`` mask it (pydantic's ``SecretStr``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Invalid(ValueError):
    """A setting's value that cannot be used; its text completes "invalid setting NAME: "."""


def _text(value: str) -> str | None:
    return None if not value.strip() else value


def _secret(value: str) -> Secret | None:
    return None if not value.strip() else Secret(value)


def _path(value: str) -> Path:
    return Path(value)


def _location(value: str) -> Path | str:
    """A folder (``Path``) or a checked ``s3://bucket/prefix`` URL (``str``)."""
    from lumidb.storage.location import parse_location

    try:
        return parse_location(value)
    except UsageError as exc:
        raise UsageError(f"LUMIDB_BACKUP_DIR: {exc.message}", hint=exc.hint) from None


def _integer(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = float(value) if value.strip() else math.nan
        except ValueError:
            number = math.nan
        if math.isnan(number) or not number.is_integer():
            raise _Invalid("Input should be a valid integer, unable to parse string as an integer")
        if number < minimum:
            raise _Invalid(f"Input should be greater than or equal to {minimum}")
        return int(number)

    return parse


def _number(minimum: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise _Invalid(
                "Input should be a valid number, unable to parse string as a number"
            ) from None
        if not number >= minimum:  # NaN too
            raise _Invalid(f"Input should be greater than or equal to {minimum:g}")
        return number

    return parse


@dataclass(frozen=True)
class _Field:
    attribute: str
    variable: str
    parse: Callable[[str], Any]


# Every setting: its attribute, the variable that sets it, how its text is read. The
# defaults are the class attributes of ``Settings``.
_FIELDS = (
    _Field("database_url", "DATABASE_URL", _secret),
    _Field("direct_url", "DIRECT_URL", _secret),
    _Field("node_env", "NODE_ENV", _text),
    _Field("lumidb_env", "LUMIDB_ENV", _text),
    _Field("backup_dir", "LUMIDB_BACKUP_DIR", _location),
    _Field("backup_keep", "LUMIDB_BACKUP_KEEP", _integer(1)),
    _Field("state_dir", "LUMIDB_STATE_DIR", _path),
    _Field("pg_bin_dir", "LUMIDB_PG_BIN_DIR", _path),
    _Field("lock_timeout", "LUMIDB_LOCK_TIMEOUT", _number(0)),
    _Field("connect_timeout", "LUMIDB_CONNECT_TIMEOUT", _integer(1)),
    _Field("restore_lock_timeout", "LUMIDB_RESTORE_LOCK_TIMEOUT", _number(0)),
    _Field("safety_keep_last", "LUMIDB_SAFETY_KEEP_LAST", _integer(1)),
    _Field("safety_keep_days", "LUMIDB_SAFETY_KEEP_DAYS", _integer(0)),
    _Field("safety_max", "LUMIDB_SAFETY_MAX", _integer(1)),
    _Field("admin_email", "LUMIDB_ADMIN_EMAIL", str),
    _Field("admin_password", "LUMIDB_ADMIN_PASSWORD", _secret),
    _Field("purge_older_than", "LUMIDB_PURGE_OLDER_THAN", str),
    _Field("purge_batch", "LUMIDB_PURGE_BATCH", _integer(1)),
)


def _dotenv(env_file: Path | str | None) -> Mapping[str, str | None]:
    if env_file is None or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values

    return dotenv_values(env_file, encoding="utf-8")


class Settings:
    """Every setting lumidb reads, with the variable that sets it.

    Read as pydantic-settings read them before (without its import cost): the
    environment first, then ``_env_file``, then the default; variable names in any case;
    an unknown variable is ignored; a value that cannot be used is a ``UsageError``.
    """

    database_url: Secret | None = None
    direct_url: Secret | None = None
    node_env: str | None = None
    lumidb_env: str | None = None
    # A folder (Path) or a checked s3://bucket/prefix URL (str): lumidb.storage.location.
    backup_dir: Path | str = Path(BACKUP_DIR_NAME)
    backup_keep: int | None = None
    state_dir: Path = Path(STATE_DIR_NAME)
    pg_bin_dir: Path | None = None
    lock_timeout: float = 30.0
    connect_timeout: int = 5
    restore_lock_timeout: float = 10.0
    safety_keep_last: int = 5
    safety_keep_days: int = 7
    safety_max: int = 20
    admin_email: str = "admin@lumiai.com"
    admin_password: Secret | None = None
    purge_older_than: str = "0"
    purge_batch: int = 5000

    def __init__(self, _env_file: Path | str | None = ENV_FILE) -> None:
        environment = {key.lower(): value for key, value in os.environ.items()}
        from_file = {
            key.lower(): value for key, value in _dotenv(_env_file).items() if value is not None
        }
        for field in _FIELDS:
            key = field.variable.lower()
            raw = environment.get(key, from_file.get(key))
            if raw is None:
                continue
            try:
                value = field.parse(raw)
            except _Invalid as exc:
                raise UsageError(f"invalid setting {field.variable}: {exc}") from None
            setattr(self, field.attribute, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.attribute}={getattr(self, f.attribute)!r}" for f in _FIELDS)
        return f"Settings({shown})"

    def _with(self, **changes: Any) -> Settings:
        changed = copy.copy(self)
        for name, value in changes.items():
            setattr(changed, name, value)
        return changed

    @property
    def safety_retention(self) -> SafetyRetention:
        """How many safety backups stay (``LUMIDB_SAFETY_*``)."""
        from lumidb.retention import SafetyRetention

        return SafetyRetention(
            keep_last=self.safety_keep_last,
            keep_days=self.safety_keep_days,
            max_count=max(self.safety_max, self.safety_keep_last),
        )

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
    settings = Settings(_env_file=root / ENV_FILE)
    sources = setting_sources(["LUMIDB_STATE_DIR", "LUMIDB_BACKUP_DIR"], root=root)
    return settings._with(
        state_dir=_anchored(settings.state_dir, sources["LUMIDB_STATE_DIR"], root),
        backup_dir=settings.backup_dir
        if isinstance(settings.backup_dir, str)
        else _anchored(settings.backup_dir, sources["LUMIDB_BACKUP_DIR"], root),
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
    file_values = _dotenv((root or find_project_root()) / ENV_FILE)
    sources: dict[str, str] = {}
    for name in names:
        if os.environ.get(name):
            sources[name] = "environment"
        elif file_values.get(name):
            sources[name] = ENV_FILE
        else:
            sources[name] = "default"
    return sources
