"""Session fixtures: the real PostgreSQL servers the tests run against (see servers.py)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from servers import Pg15TestServer, Pg18TestServer

from lumidb.connection import DatabaseTarget

PG15_MISSING = f"Debian's PostgreSQL 15 is not installed ({Pg15TestServer.BIN_DIR}/postgres)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not Pg15TestServer.available():
        for item in items:
            if item.get_closest_marker("pg15"):
                item.add_marker(pytest.mark.skip(reason=PG15_MISSING))


@pytest.fixture(scope="session")
def pg18() -> Iterator[Pg18TestServer]:
    """The bundled PostgreSQL 18, no SSL, password logins over TCP."""
    with Pg18TestServer() as server:
        yield server


@pytest.fixture(scope="session")
def pg15() -> Iterator[Pg15TestServer]:
    """Debian's PostgreSQL 15 with TLS on; skips where it is missing."""
    if not Pg15TestServer.available():
        pytest.skip(PG15_MISSING)
    with Pg15TestServer() as server:
        yield server


# --- databases ---------------------------------------------------------------------
# Tests work as `lumiai`, an ordinary login role that owns its databases (as the
# application's role does), never as the superuser. Each test gets a fresh database
# copied from a template migrated once per session.

APP_ROLE = "lumiai"
APP_PASSWORD = "app-Secret-pw-7Q"  # a recognisable password that tests search for
TEMPLATE = "lumidb_template"


def app_target(server: Any, dbname: str) -> DatabaseTarget:
    admin = server.admin_target(dbname)
    return replace(admin, user=APP_ROLE, password=APP_PASSWORD, source="DATABASE_URL")


def url_of(target: DatabaseTarget, **extra: str) -> str:
    """The URL a user would put in .env, password included (Prisma's form)."""
    query = "&".join(
        [
            f"schema={target.schema}",
            *(f"{k}={v}" for k, v in {**dict(target.params), **extra}.items()),
        ]
    )
    auth = f"{quote(target.user, safe='')}:{quote(target.password or '', safe='')}"
    return f"postgresql://{auth}@{target.host}:{target.port}/{target.dbname}?{query}"


@pytest.fixture(scope="session")
def app_server(pg18: Pg18TestServer) -> Pg18TestServer:
    """The PostgreSQL 18 server with the application role and a migrated template."""
    pg18.create_role(APP_ROLE, APP_PASSWORD)
    with psycopg.connect(autocommit=True, **pg18.admin_target().conninfo_params()) as conn:
        conn.execute(f"ALTER ROLE {APP_ROLE} CREATEDB")
    pg18.create_database(TEMPLATE, owner=APP_ROLE)
    from lumidb import migrations
    from lumidb.config import Environment

    migrations.deploy(
        app_target(pg18, TEMPLATE), environment=Environment.DEVELOPMENT, lock_timeout=30
    )
    return pg18


def _fresh_database(server: Any, template: str) -> Iterator[DatabaseTarget]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True, **server.admin_target().conninfo_params()) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {APP_ROLE} STRATEGY FILE_COPY'
        )
    try:
        yield app_target(server, name)
    finally:
        with psycopg.connect(autocommit=True, **server.admin_target().conninfo_params()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(app_server: Pg18TestServer) -> Iterator[DatabaseTarget]:
    """A fresh database at the head revision, owned by the application role."""
    yield from _fresh_database(app_server, TEMPLATE)


@pytest.fixture
def empty_db(app_server: Pg18TestServer) -> Iterator[DatabaseTarget]:
    """A fresh, empty database (no tables, no history), owned by the application role."""
    yield from _fresh_database(app_server, "template0")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli:
    """Runs `lumidb` in-process (Typer's runner) in a folder of its own, no terminal."""

    def __init__(self, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.workdir = workdir
        self.monkeypatch = monkeypatch
        for name in list(os.environ):
            if name.startswith(("LUMIDB_", "PG")) or name in {
                "DATABASE_URL",
                "DIRECT_URL",
                "NODE_ENV",
            }:
                monkeypatch.delenv(name)
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.chdir(workdir)

    def use(self, target: DatabaseTarget, **extra: str) -> None:
        self.monkeypatch.setenv("DATABASE_URL", url_of(target, **extra))

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def __call__(self, *args: str, input: str | None = None) -> Run:
        from typer.testing import CliRunner

        from lumidb.cli import app

        result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`lumidb` for a test: its own working folder (so .env and backups/ are the test's)."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    return Cli(workdir, monkeypatch)
