"""The embedded default: no DATABASE_URL, a local PostgreSQL that lumidb creates, starts and stops."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import clean_env, run_installed


class Fresh:
    """A folder like a fresh clone: no .env, no DATABASE_URL, no terminal."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_installed(*args, env=clean_env(), cwd=self.folder, timeout=180)


@pytest.fixture(scope="module")
def fresh() -> Iterator[Fresh]:
    # Not under pytest's tmp root: every new pytest session resets that folder to 0700,
    # which would lock the server's own system user (as root) out of its data folder.
    folder = Path(tempfile.mkdtemp(prefix="lumidb-clone-"))
    # as git checks the repository out: backups/ holds only its .gitignore, mode 0755
    (folder / "backups").mkdir(mode=0o755)
    (folder / "backups").chmod(0o755)
    shutil.copy(Path(__file__).parent.parent / "backups" / ".gitignore", folder / "backups")
    runner = Fresh(folder)
    try:
        yield runner
    finally:
        runner("server", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_first_command_gives_a_migrated_local_database(fresh: Fresh) -> None:
    run = fresh("migrate", "deploy")
    assert run.returncode == 0, run.stderr
    assert (
        "created a local PostgreSQL" in run.stderr
        and "postgresql://postgres@127.0.0.1:" in run.stderr
    )
    assert (fresh.folder / ".lumidb" / "server.json").is_file()
    url = fresh("server", "url")
    assert url.returncode == 0
    lines = url.stdout.splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("postgresql://postgres@127.0.0.1:")
        and lines[0].endswith("/lumiai?schema=public")
    )
    port = json.loads((fresh.folder / ".lumidb" / "server.json").read_text())["port"]
    assert f":{port}/" in lines[0]
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="lumiai") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    second = fresh("migrate", "status", "--check")
    assert second.returncode == 0 and "created" not in second.stderr


def test_doctor_is_green_on_the_embedded_default(fresh: Fresh) -> None:
    run = fresh("doctor")
    assert run.returncode == 0, run.stdout
    assert "the local server" in run.stdout


def test_status_stop_start(fresh: Fresh) -> None:
    status = json.loads(fresh("server", "status", "--json").stdout)
    assert (
        status["kind"] == "server_status"
        and status["running"] is True
        and status["created"] is True
    )
    assert fresh("server", "stop").returncode == 0
    assert json.loads(fresh("server", "status", "--json").stdout)["running"] is False
    assert "not running" in fresh("server", "stop").stdout
    start = fresh("server", "start")
    assert start.returncode == 0 and "started" in start.stdout
    assert json.loads(fresh("server", "status", "--json").stdout)["running"] is True
