"""Conventions every command follows: help, version, --json, --quiet, errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import APP_PASSWORD, Cli, url_of

from lumidb import __version__
from lumidb.connection import DatabaseTarget

LUMIDB = str(Path(sys.executable).parent / "lumidb")


def test_version(cli: Cli) -> None:
    run = cli("--version")
    assert run.exit_code == 0 and run.stdout.strip() == f"lumidb {__version__}"


def test_bare_lumidb_shows_help(cli: Cli) -> None:
    run = cli()
    assert "Usage" in run.stdout + run.stderr and "migrate" in run.stdout + run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "--help"],
        ["migrate", "deploy", "--help"],
        ["migrate", "status", "--help"],
        ["migrate", "down", "--help"],
        ["migrate", "adopt", "--help"],
        ["migrate", "new", "--help"],
        ["migrate", "history", "--help"],
        ["doctor", "--help"],
        ["server", "start", "--help"],
        ["server", "stop", "--help"],
        ["server", "status", "--help"],
        ["server", "url", "--help"],
    ],
)
def test_every_command_has_help_with_an_example(cli: Cli, args: list[str]) -> None:
    run = cli(*args)
    assert run.exit_code == 0 and "Example" in run.stdout


def test_unknown_option_is_usage_error(cli: Cli) -> None:
    assert cli("migrate", "deploy", "--frobnicate").exit_code == 2


def test_json_is_one_document_and_errors_go_to_stderr(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("migrate", "status", "--json")
    assert run.exit_code == 0
    doc = json.loads(run.stdout)
    assert doc["version"] == 1 and doc["kind"] == "migration_status"
    assert set(doc) >= {"database", "current", "heads", "pending", "drift", "up_to_date"}
    assert "\x1b[" not in run.stdout
    failing = cli("migrate", "adopt", "--json")  # already managed: succeeds; now a failure:
    assert failing.exit_code == 0
    cli.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/db")
    err = cli("migrate", "status", "--json")
    assert err.exit_code == 1 and json.loads(err.stdout)["kind"] == "error"
    assert err.stderr.startswith("error:")


def test_debug_shows_a_traceback(cli: Cli) -> None:
    cli.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/db")
    assert "Traceback" not in cli("migrate", "status").stderr
    assert "Traceback" in cli("migrate", "status", "--debug").stderr
    assert "Traceback" in cli("--debug", "migrate", "status").stderr


def test_installed_lumidb_without_a_terminal(db: DatabaseTarget, tmp_path: Path) -> None:
    """The real console script, as cron or CI runs it: no terminal, no colour codes, honest exit codes."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LUMIDB_", "PG")) and k not in {"DATABASE_URL", "NODE_ENV"}
    }
    env["DATABASE_URL"] = url_of(db)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LUMIDB, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    quiet = run("migrate", "deploy", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == ""
    status = run("migrate", "status")
    assert status.returncode == 0 and "\x1b[" not in status.stdout and "up to date" in status.stdout
    down = run("migrate", "down")
    assert down.returncode == 3 and "--yes" in down.stderr
    assert APP_PASSWORD not in quiet.stderr + status.stdout + status.stderr + down.stderr


def test_no_password_on_any_command_line(db: DatabaseTarget, tmp_path: Path) -> None:
    """While lumidb runs, no process of this machine carries the password in its arguments."""
    import threading
    import time

    env = {**os.environ, "DATABASE_URL": url_of(db)}
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                    except OSError:
                        continue
                    if APP_PASSWORD in cmdline:
                        seen.append(cmdline)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for args in (["migrate", "deploy"], ["migrate", "status"], ["doctor"]):
            subprocess.run(
                [LUMIDB, *args],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
    finally:
        done.set()
        watcher.join()
    assert seen == []
