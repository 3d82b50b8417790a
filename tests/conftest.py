"""Session fixtures: the real PostgreSQL servers the tests run against (see servers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from s3server import AWS_SETTINGS, S3TestServer
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
    password = target.password.get_secret_value() if target.password else ""
    auth = f"{quote(target.user, safe='')}:{quote(password, safe='')}"
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


# --- lumidb as a user runs it ---------------------------------------------------------

LUMIDB = str(Path(sys.executable).parent / "lumidb")  # the installed console script


def is_lumidb_setting(name: str) -> bool:
    """Variables that change what lumidb does: a test starts without any of them."""
    return name.startswith(("LUMIDB_", "PG")) or name in {"DATABASE_URL", "DIRECT_URL", "NODE_ENV"}


def clean_env(**settings: str) -> dict[str, str]:
    """A fresh shell's environment for the installed lumidb: only the given settings, no colour."""
    env = {k: v for k, v in os.environ.items() if not is_lumidb_setting(k)}
    env["NO_COLOR"] = "1"
    env.update(settings)
    return env


def run_installed(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed `lumidb` as cron or CI runs it: no terminal, output captured."""
    return subprocess.run(
        [LUMIDB, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


class CommandLineWatcher:
    """Watches every process's arguments while the block runs.

    ``leaks`` collects any command line that carries the test password; ``command_lines``
    every one seen (arguments joined by spaces), so a test can check what ran.
    """

    def __init__(self) -> None:
        self.leaks: list[str] = []
        self.command_lines: set[str] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def saw(self, predicate: Callable[[str], bool]) -> bool:
        return any(predicate(line) for line in list(self.command_lines))

    def _watch(self) -> None:
        while not self._done.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    line = (
                        (entry / "cmdline")
                        .read_bytes()
                        .replace(b"\0", b" ")
                        .decode(errors="replace")
                    )
                except OSError:
                    continue
                self.command_lines.add(line)
                if APP_PASSWORD in line:
                    self.leaks.append(line)
            time.sleep(0.005)

    def __enter__(self) -> CommandLineWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class Cli:
    """Runs `lumidb` in-process (Typer's runner) in a folder of its own, no terminal."""

    def __init__(self, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.workdir = workdir
        self.monkeypatch = monkeypatch
        for name in list(os.environ):
            if is_lumidb_setting(name):
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


# --- S3: moto's server on loopback (see s3server.py) -----------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3TestServer]:
    """moto's S3 in server mode, credentials enforced, for the whole session."""
    with S3TestServer() as server:
        yield server


@dataclass(frozen=True)
class S3Place:
    """A fresh bucket and the backup location in it, reached through standard AWS files."""

    server: S3TestServer
    bucket: str
    prefix: str
    aws_dir: Path

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@pytest.fixture
def s3_place(s3_server: S3TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Place:
    """``s3://<new bucket>/backups/production``, with AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE
    and AWS_ENDPOINT_URL set for this test (and its children) and no other AWS setting."""
    for name in AWS_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    aws_dir = tmp_path / "aws"
    for name, value in s3_server.write_aws_files(aws_dir).items():
        monkeypatch.setenv(name, value)
    return S3Place(s3_server, s3_server.new_bucket(), "backups/production", aws_dir)
