"""Settings from the environment and ``.env``: precedence, parsing, bad values, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumidb.config import Settings, load_settings
from lumidb.errors import UsageError

VARIABLES = (
    "DATABASE_URL",
    "DIRECT_URL",
    "NODE_ENV",
    "LUMIDB_ENV",
    "LUMIDB_BACKUP_DIR",
    "LUMIDB_BACKUP_KEEP",
    "LUMIDB_STATE_DIR",
    "LUMIDB_LOCK_TIMEOUT",
    "LUMIDB_CONNECT_TIMEOUT",
    "LUMIDB_ADMIN_PASSWORD",
)


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_defaults_without_anything() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url is None and settings.url_setting is None
    assert settings.backup_dir == Path("backups") and settings.backup_keep is None
    assert (settings.lock_timeout, settings.connect_timeout, settings.purge_batch) == (
        30.0,
        5,
        5000,
    )
    assert settings.safety_retention.keep_last == 5


def test_environment_wins_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DATABASE_URL=postgresql://file@h/d\n"
        "LUMIDB_BACKUP_KEEP=4\n"
        "lumidb_lock_timeout=2.5\n"  # names in any case
        "SOMETHING_ELSE=ignored\n"
        "LUMIDB_ADMIN_PASSWORD='s3cret'\n"
    )
    monkeypatch.setenv("LUMIDB_BACKUP_KEEP", "7")
    settings = Settings(_env_file=env_file)
    assert settings.url_setting == ("DATABASE_URL", "postgresql://file@h/d")
    assert settings.backup_keep == 7 and settings.lock_timeout == 2.5
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "file@h" not in repr(settings)
    monkeypatch.setenv("DIRECT_URL", "postgresql://direct@h/d")
    assert Settings(_env_file=env_file).url_setting == ("DIRECT_URL", "postgresql://direct@h/d")


def test_empty_urls_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "  ")
    monkeypatch.setenv("NODE_ENV", "")
    settings = Settings(_env_file=None)
    assert settings.database_url is None and settings.node_env is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LUMIDB_BACKUP_KEEP", "0", "greater than or equal to 1"),
        ("LUMIDB_BACKUP_KEEP", "two", "valid integer"),
        ("LUMIDB_BACKUP_KEEP", "2.5", "valid integer"),
        ("LUMIDB_LOCK_TIMEOUT", "-1", "greater than or equal to 0"),
        ("LUMIDB_LOCK_TIMEOUT", "nan", "greater than or equal to 0"),
        ("LUMIDB_LOCK_TIMEOUT", "soon", "valid number"),
        ("LUMIDB_CONNECT_TIMEOUT", "0", "greater than or equal to 1"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UsageError, match=f"invalid setting {name}: .*{message}") as caught:
        Settings(_env_file=None)
    assert caught.value.exit_code == 2


def test_numbers_as_pydantic_read_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMIDB_BACKUP_KEEP", " 3 ")
    monkeypatch.setenv("LUMIDB_CONNECT_TIMEOUT", "4.0")
    monkeypatch.setenv("LUMIDB_LOCK_TIMEOUT", "1e1")
    settings = Settings(_env_file=None)
    assert (settings.backup_keep, settings.connect_timeout, settings.lock_timeout) == (3, 4, 10.0)


def test_load_settings_anchors_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".env").write_text("LUMIDB_BACKUP_DIR=from-file\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(root)
    assert settings.backup_dir == root / "from-file"  # written in .env: the root's
    assert settings.state_dir == root / ".lumidb"
    monkeypatch.setenv("LUMIDB_BACKUP_DIR", "here")
    assert load_settings(root).backup_dir == tmp_path / "here"  # typed in a shell: cwd's
