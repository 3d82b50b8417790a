"""The embedded default: no DATABASE_URL, a local PostgreSQL that lumidb creates, starts and stops."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import clean_env, run_installed

from lumidb.server import bundled_bin_dir


class Fresh:
    """A folder like a fresh clone (pyproject.toml, backups/): no .env, no DATABASE_URL, no
    terminal. Commands run from its subfolder ``bench/``, as a newcomer's often do."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cwd = folder / "bench"

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_installed(*args, env=clean_env(**env), cwd=self.cwd, timeout=180)

    def set_up(self) -> None:
        """Day one done, whichever test of the module runs first (pytest -n splits them)."""
        if not (self.folder / ".lumidb").exists():
            run = self("setup")
            assert run.returncode == 0, run.stderr


@pytest.fixture(scope="module")
def fresh() -> Iterator[Fresh]:
    # Not under pytest's tmp root: every new pytest session resets that folder to 0700,
    # which would lock the server's own system user (as root) out of its data folder.
    folder = Path(tempfile.mkdtemp(prefix="lumidb-clone-"))  # mode 0700
    shutil.copy(Path(__file__).parent.parent / "pyproject.toml", folder)
    (folder / "bench").mkdir()
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


def test_before_day_one_read_only_commands_say_what_to_run(fresh: Fresh) -> None:
    for args in (("server", "url"), ("migrate", "status"), ("doctor",)):
        run = fresh(*args)
        assert run.returncode == 1 and "lumidb setup" in run.stdout + run.stderr, args
    assert not (fresh.folder / ".lumidb").exists()


def test_first_command_gives_a_migrated_local_database(fresh: Fresh) -> None:
    # the README's day one (`uv run lumidb setup`), from the clone's subfolder bench/
    run = fresh("setup")
    assert run.returncode == 0, run.stderr
    assert "admin: admin@lumiai.com" in run.stdout and "lumidb seed --refresh" in run.stdout
    assert "lumidb server url" in run.stdout
    assert "tightened" in run.stderr  # the clone's 0755 backups/ holds no backups yet
    assert (
        "created a local PostgreSQL" in run.stderr
        and "postgresql://postgres@127.0.0.1:" in run.stderr
    )
    assert (fresh.folder / ".lumidb" / "server.json").is_file()
    assert not (fresh.cwd / ".lumidb").exists()
    if os.geteuid() == 0:
        # the clone's folder was 0700: the server's system user needs only o+x to pass
        assert stat.S_IMODE(fresh.folder.stat().st_mode) == 0o701
        assert f"{fresh.folder}: 0700 -> 0701" in run.stderr
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
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (36,)
    again = fresh("setup")
    assert again.returncode == 0 and "not seeded: the tables were already there" in again.stdout
    second = fresh("migrate", "status", "--check")
    assert second.returncode == 0 and "created" not in second.stderr
    libpq = fresh("server", "url", "--libpq")
    assert libpq.returncode == 0 and "schema=" not in libpq.stdout
    psql = subprocess.run(
        [str(bundled_bin_dir() / "psql"), libpq.stdout.strip(), "-tAc", "SELECT 1"],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    assert psql.returncode == 0 and psql.stdout.strip() == "1", psql.stderr
    through = fresh("psql", "--", "-tAc", "SELECT current_database()")
    assert through.returncode == 0 and through.stdout.strip() == "lumiai", through.stderr


def test_backup_from_the_subfolder_goes_to_the_roots_backups(fresh: Fresh) -> None:
    fresh.set_up()
    run = fresh("backup")
    assert run.returncode == 0, run.stderr
    assert [p.parent for p in (fresh.folder / "backups").glob("lumiai-*.sql.zst")] == [
        fresh.folder / "backups"
    ]
    assert stat.S_IMODE((fresh.folder / "backups").stat().st_mode) == 0o700
    assert fresh("backups", "list").stdout.count("lumiai-") == 1


def test_doctor_is_green_on_the_embedded_default(fresh: Fresh) -> None:
    fresh.set_up()
    run = fresh("doctor")
    assert run.returncode == 0, run.stdout
    assert "the local server" in run.stdout


def test_status_stop_start(fresh: Fresh) -> None:
    fresh.set_up()
    status = json.loads(fresh("server", "status", "--json").stdout)
    assert (
        status["kind"] == "server_status"
        and status["running"] is True
        and status["created"] is True
    )
    assert fresh("server", "stop").returncode == 0
    stopped = fresh("server", "status", "--json")
    assert stopped.returncode == 1 and json.loads(stopped.stdout)["running"] is False
    assert "not running" in fresh("server", "stop").stdout
    # read-only commands leave a stopped server stopped and say how to start it
    for args in (("doctor",), ("server", "url"), ("migrate", "status"), ("migrate", "history")):
        run = fresh(*args)
        assert run.returncode == 1 and "lumidb server start" in run.stdout + run.stderr, args
    assert json.loads(fresh("server", "status", "--json").stdout)["running"] is False
    start = fresh("server", "start")
    assert start.returncode == 0 and "started" in start.stdout
    assert json.loads(fresh("server", "status", "--json").stdout)["running"] is True


def test_start_on_a_taken_port_says_why_and_how_to_pick_another(fresh: Fresh) -> None:
    fresh.set_up()
    state = fresh.folder / ".lumidb" / "server.json"
    port = json.loads(state.read_text())["port"]
    assert fresh("server", "stop").returncode == 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        run = fresh("server", "start")
        assert run.returncode == 1
        assert "could not bind" in run.stderr and "Address already in use" in run.stderr
        assert "--port" in run.stderr and "server.json" in run.stderr
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            other = probe.getsockname()[1]
        moved = fresh("server", "start", "--port", str(other))
        assert moved.returncode == 0, moved.stderr
    assert json.loads(state.read_text())["port"] == other
    assert f":{other}/" in fresh("server", "url").stdout
