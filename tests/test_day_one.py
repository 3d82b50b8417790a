"""A newcomer's first day (issue 16): the project root, read-only commands, psql, small edges."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import APP_PASSWORD, Cli, CommandLineWatcher, clean_env, run_installed, url_of

from lumidb.backup import BackupOptions, create_backup
from lumidb.connection import DatabaseTarget, connect, parse_database_url
from lumidb.timespec import utc_now

# --- the project root ------------------------------------------------------------------


def test_project_root_is_found_as_git_and_uv_find_theirs(tmp_path: Path) -> None:
    from lumidb.config import find_project_root

    clone = tmp_path / "clone"
    deep = clone / "bench" / "data"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == deep  # no marker anywhere: the current folder
    (clone / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_project_root(deep) == clone
    (clone / "bench" / ".git").mkdir()  # a nearer .git wins over a farther pyproject.toml
    assert find_project_root(deep) == clone / "bench"
    (clone / ".lumidb").mkdir()  # a .lumidb/ anywhere above wins over any .git
    assert find_project_root(deep) == clone


def test_settings_come_from_the_roots_env_from_a_subfolder(
    cli: Cli, db: DatabaseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lumidb.config import load_settings

    root = cli.workdir
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / ".env").write_text(f"DATABASE_URL={url_of(db)}\nLUMIDB_BACKUP_DIR=dumps\n")
    sub = root / "bench" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    run = cli("migrate", "status", "--json")
    assert run.exit_code == 0, run.stderr
    assert db.dbname in run.json()["database"]
    backup = cli("backup", "--json")
    assert backup.exit_code == 0, backup.stderr
    # relative in the root's .env: relative to the root
    assert Path(backup.json()["path"]).parent == root / "dumps"
    assert not (sub / ".lumidb").exists() and not (sub / "dumps").exists()
    # relative in the environment: relative to the current folder, as any path in a shell
    cli.setenv("LUMIDB_BACKUP_DIR", "here")
    assert load_settings().backup_dir == sub / "here"
    assert load_settings().state_dir == root / ".lumidb"
    cli.setenv("LUMIDB_STATE_DIR", "/srv/state")
    assert load_settings().state_dir == Path("/srv/state")


def fresh_project(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "clone"
    sub = root / "bench"
    sub.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root, sub


@pytest.mark.parametrize(
    "args",
    [
        ("server", "url"),
        ("server", "url", "--libpq"),
        ("server", "status"),
        ("doctor",),
        ("migrate", "status"),
        ("migrate", "history"),
    ],
)
def test_read_only_commands_never_create_a_server(tmp_path: Path, args: tuple[str, ...]) -> None:
    root, sub = fresh_project(tmp_path)
    run = run_installed(*args, env=clean_env(), cwd=sub, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    said = run.stdout + run.stderr
    assert "lumidb setup" in said or "lumidb server start" in said
    assert not (root / ".lumidb").exists() and not (sub / ".lumidb").exists()


def test_backups_list_and_a_failing_restore_start_no_server(tmp_path: Path) -> None:
    root, sub = fresh_project(tmp_path)
    listing = run_installed("backups", "list", env=clean_env(), cwd=sub)
    assert listing.returncode == 0 and "no backups" in listing.stdout
    assert str(root / "backups") in listing.stdout
    restore = run_installed("restore-latest", "--yes", env=clean_env(), cwd=sub)
    assert restore.returncode == 1 and "nothing to restore" in restore.stderr
    assert not (root / ".lumidb").exists() and not (sub / ".lumidb").exists()


# --- the command line ------------------------------------------------------------------


def test_output_option_before_the_command_says_where_it_goes(cli: Cli) -> None:
    run = cli("--json", "backups", "list")
    assert run.exit_code == 2
    assert "--json goes after the command: lumidb backups list --json" in run.stderr


def test_help_shows_no_type_placeholder_on_flags_and_offers_completion(tmp_path: Path) -> None:
    root = run_installed("--help", env=clean_env(COLUMNS="100"), cwd=tmp_path)
    assert root.returncode == 0 and "--install-completion" in root.stdout
    for args in (("--help",), ("restore-latest", "--help"), ("migrate", "status", "--help")):
        run = run_installed(*args, env=clean_env(COLUMNS="100"), cwd=tmp_path)
        assert run.returncode == 0
        assert "<bool>" not in run.stdout, run.stdout


# --- backups ---------------------------------------------------------------------------


def test_backups_list_at_80_columns_shows_whole_file_names(
    db: DatabaseTarget, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    made = create_backup(db, BackupOptions(backup_dir=folder), now=utc_now())
    name = Path(made.path).name
    run = run_installed(
        "backups",
        "list",
        env=clean_env(COLUMNS="80", LUMIDB_BACKUP_DIR=str(folder)),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert name in run.stdout, run.stdout
    table = [line for line in run.stdout.splitlines() if not line.startswith("backups in")]
    assert max(len(line) for line in table) <= 80, run.stdout


def test_a_fresh_clones_empty_backup_folder_is_tightened_once(cli: Cli, db: DatabaseTarget) -> None:
    folder = cli.workdir / "backups"
    folder.mkdir()
    folder.chmod(0o755)
    (folder / ".gitignore").write_text("*\n!.gitignore\n")
    cli.use(db)
    first = cli("backup")
    assert first.exit_code == 0, first.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert "tightened backup directory" in first.stderr and "0755" in first.stderr
    second = cli("backup")
    assert second.exit_code == 0 and "backup directory" not in second.stderr


def test_verify_of_a_file_without_manifest_does_not_claim_a_match(
    cli: Cli, db: DatabaseTarget, tmp_path: Path
) -> None:
    made = Path(create_backup(db, BackupOptions(backup_dir=tmp_path / "b"), now=utc_now()).path)
    legacy = cli.workdir / "backup-2024-11-24T14-38-00.000Z.sql"
    legacy.write_bytes(
        subprocess.run(["zstd", "-dc", str(made)], capture_output=True, check=True).stdout
    )
    cli.use(db)
    run = cli("backups", "verify", legacy.name)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "match the manifest" not in run.stdout
    assert "no manifest to compare with" in run.stdout
    as_json = cli("backups", "verify", legacy.name, "--json")
    assert as_json.json()["file"] == str(legacy)  # absolute, as in `backups list --json`
    assert as_json.json()["manifest"] is False


def test_restore_dry_run_and_one_safety_line_and_counts_without_bookkeeping(
    cli: Cli, db: DatabaseTarget
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(cli.workdir / "backups"))
    assert cli("backup", "--quiet").exit_code == 0
    with connect(db) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password, \"updatedAt\") VALUES ('u1', 'a@x', 'h', now())"
        )
    dry = cli("restore-latest", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "restore " in dry.stdout and "safety backup first" in dry.stdout
    assert not (cli.workdir / "backups" / "safety").exists()
    with connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 0, run.stderr
    said = run.stdout + run.stderr
    assert len(re.findall(r"safety backup: ", said)) == 1, said
    assert "undo with" in run.stdout
    # 0 rows in the application's 5 tables: alembic_version's one row is not counted
    assert "0 rows in 5 tables" in run.stdout, run.stdout


# --- psql ------------------------------------------------------------------------------


def test_psql_opens_the_target_with_the_password_in_the_environment(
    db: DatabaseTarget, tmp_path: Path
) -> None:
    env = clean_env(DATABASE_URL=url_of(db))
    with CommandLineWatcher() as watcher:
        run = run_installed(
            "psql",
            "--",
            "-tAc",
            "SELECT current_user || '@' || current_database()",
            env=env,
            cwd=tmp_path,
        )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"lumiai@{db.dbname}"
    assert watcher.leaks == []
    failing = run_installed("psql", "--", "-c", "SELECT no_such_thing", env=env, cwd=tmp_path)
    assert failing.returncode != 0


def test_libpq_url_has_no_prisma_schema_parameter() -> None:
    from lumidb.target import libpq_url

    plain = parse_database_url("postgresql://u:pw@h:5433/db?schema=public&sslmode=require")
    assert libpq_url(plain) == "postgresql://u@h:5433/db?sslmode=require"
    other = parse_database_url("postgresql://u@h/db?schema=shop")
    assert libpq_url(other) == "postgresql://u@h:5432/db?options=-csearch_path%3D%22shop%22"
    assert "pw" not in libpq_url(plain)


def test_json_of_server_status_is_one_document_even_when_stopped(tmp_path: Path) -> None:
    root, sub = fresh_project(tmp_path)
    run = run_installed("server", "status", "--json", env=clean_env(), cwd=sub)
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["created"] is False and doc["running"] is False
    assert not (root / ".lumidb").exists()
    assert os.environ.get("LUMIDB_STATE_DIR") is None or True
    assert APP_PASSWORD not in run.stdout
