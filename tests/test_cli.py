"""Conventions every command follows: help, version, --json, --quiet, errors, exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import APP_PASSWORD, Cli, CommandLineWatcher, clean_env, run_installed, url_of

from lumidb import __version__
from lumidb.connection import DatabaseTarget


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
    env = clean_env(DATABASE_URL=url_of(db))
    env.pop("NO_COLOR")  # no terminal alone must keep colour codes out

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_installed(*args, env=env, cwd=tmp_path, timeout=60)

    quiet = run("migrate", "deploy", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == ""
    status = run("migrate", "status")
    assert status.returncode == 0 and "\x1b[" not in status.stdout and "up to date" in status.stdout
    down = run("migrate", "down")
    assert down.returncode == 3 and "--yes" in down.stderr
    assert APP_PASSWORD not in quiet.stderr + status.stdout + status.stderr + down.stderr


def test_no_password_on_any_command_line(db: DatabaseTarget, tmp_path: Path) -> None:
    """While lumidb runs, no process of this machine carries the password in its arguments."""
    env = clean_env(DATABASE_URL=url_of(db))
    with CommandLineWatcher() as argv:
        for args in (["migrate", "deploy"], ["migrate", "status"], ["doctor"]):
            run_installed(*args, env=env, cwd=tmp_path, timeout=60)
    assert argv.saw(lambda line: "lumidb doctor" in line)
    assert argv.leaks == []
