"""The guard: LUMIDB_ENV and NODE_ENV read independently; an unknown NODE_ENV is guarded."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from conftest import Cli

from lumidb.config import Environment, Settings
from lumidb.connection import DatabaseTarget
from lumidb.errors import UsageError


def recorded(target: DatabaseTarget) -> list[tuple[Any, ...]]:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        if conn.execute("SELECT to_regclass('lumidb.environment')").fetchone() == (None,):
            return []
        return conn.execute("SELECT environment FROM lumidb.environment").fetchall()


@pytest.mark.parametrize(
    ("lumidb_env", "node_env", "guarded_as", "recorded_as"),
    [
        (None, None, Environment.DEVELOPMENT, Environment.DEVELOPMENT),
        ("development", "production", Environment.PRODUCTION, Environment.PRODUCTION),
        ("production", "development", Environment.PRODUCTION, Environment.PRODUCTION),
        (None, "staging", Environment.PRODUCTION, None),
        ("test", "qa", Environment.PRODUCTION, Environment.TEST),
        (None, "TEST", Environment.TEST, Environment.TEST),
    ],
)
def test_both_variables_are_read(
    monkeypatch: pytest.MonkeyPatch,
    lumidb_env: str | None,
    node_env: str | None,
    guarded_as: Environment,
    recorded_as: Environment | None,
) -> None:
    for name, value in (("LUMIDB_ENV", lumidb_env), ("NODE_ENV", node_env)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.environment is guarded_as
    assert settings.environment_to_record is recorded_as


def test_an_unknown_lumidb_env_is_bad_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMIDB_ENV", "staging")
    with pytest.raises(UsageError, match="LUMIDB_ENV='staging' is not an environment"):
        _ = Settings(_env_file=None).environment


def test_staging_deploys_is_guarded_and_is_not_recorded_as_production(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    cli.setenv("NODE_ENV", "staging")
    run = cli("migrate", "deploy", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["environment"] == "development"  # the record stays as it was
    assert recorded(db) == [("development",)]  # never raised to production for good
    assert cli("migrate", "down", "--yes").exit_code == 3  # but guarded like production


def test_node_env_production_beside_a_development_lumidb_env_records_production(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ENV", "development")
    cli.setenv("NODE_ENV", "production")
    run = cli("migrate", "deploy", "--json")
    assert run.exit_code == 0 and run.json()["environment"] == "production"
    assert recorded(db) == [("production",)]
