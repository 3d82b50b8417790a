"""The guard: LUMIDB_ENV and NODE_ENV read independently, unknown NODE_ENV guarded, record."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from conftest import Cli

from lumidb.config import Environment, Settings
from lumidb.connection import DatabaseTarget
from lumidb.errors import UsageError


def recorded(target: DatabaseTarget) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params("lumidb tests")) as conn:
        exists = conn.execute("SELECT to_regclass('lumidb.environment')").fetchone()
        if not exists or exists[0] is None:
            return []
        return conn.execute("SELECT environment FROM lumidb.environment").fetchall()


@pytest.mark.parametrize(
    ("lumidb_env", "node_env", "shell", "to_record"),
    [
        (None, None, Environment.DEVELOPMENT, Environment.DEVELOPMENT),
        ("development", "production", Environment.PRODUCTION, Environment.PRODUCTION),
        ("production", "development", Environment.PRODUCTION, Environment.PRODUCTION),
        (None, "staging", Environment.PRODUCTION, None),
        ("test", "qa", Environment.PRODUCTION, Environment.TEST),
        (None, "test", Environment.TEST, Environment.TEST),
    ],
)
def test_settings_read_both_variables(
    monkeypatch: pytest.MonkeyPatch,
    lumidb_env: str | None,
    node_env: str | None,
    shell: Environment,
    to_record: Environment | None,
) -> None:
    for name, value in (("LUMIDB_ENV", lumidb_env), ("NODE_ENV", node_env)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment is shell
    assert settings.environment_to_record is to_record


def test_unknown_lumidb_env_is_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMIDB_ENV", "staging")
    with pytest.raises(UsageError, match="LUMIDB_ENV"):
        _ = Settings(_env_file=None).environment  # type: ignore[call-arg]


def test_deploy_accepts_staging_and_does_not_record_production(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    cli.setenv("NODE_ENV", "staging")
    run = cli("migrate", "deploy", "--json")
    assert run.exit_code == 0, run.stderr
    assert recorded(db) != [("production",)]
    dev_flow = cli("migrate")
    assert dev_flow.exit_code == 3 and "migrate deploy" in dev_flow.stderr


def test_deploy_records_production_when_node_env_says_so_beside_dev_lumidb_env(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ENV", "development")
    cli.setenv("NODE_ENV", "production")
    run = cli("migrate", "deploy", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["environment"] == "production"
    assert recorded(db) == [("production",)]
