"""`lumidb doctor`: green on a healthy setup, a failing check with a fix otherwise."""

from __future__ import annotations

from dataclasses import replace

from conftest import Cli, url_of

from lumidb.connection import DatabaseTarget


def test_doctor_green_on_a_migrated_database(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("doctor")
    assert run.exit_code == 0, run.stdout
    for name in (
        "configuration",
        "database URL",
        "connection",
        "server version",
        "client programs",
        "migrations",
        "backup directory",
    ):
        assert name in run.stdout
    assert "DATABASE_URL from environment" in run.stdout and "***" in run.stdout


def test_doctor_json_shape(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    doc = cli("doctor", "--json").json()
    assert doc["version"] == 1 and doc["kind"] == "doctor_report" and doc["ok"] is True
    assert all({"name", "ok", "detail", "fix"} <= set(c) for c in doc["checks"])


def test_doctor_fails_with_a_fix_for_pending_migrations(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    run = cli("doctor")
    assert run.exit_code == 1
    assert "lumidb migrate deploy" in run.stdout


def test_doctor_fails_on_wrong_password(cli: Cli, db: DatabaseTarget) -> None:
    cli.setenv("DATABASE_URL", url_of(replace(db, password="nope")))
    run = cli("doctor")
    assert run.exit_code == 1 and "password" in run.stdout


def test_doctor_warns_about_a_backup_dir_readable_by_others(cli: Cli, db: DatabaseTarget) -> None:
    """A warning, as DECISIONS.md has it, not a failure: git checks out backups/ as 0755."""
    cli.use(db)
    (cli.workdir / "backups").mkdir(mode=0o755)
    (cli.workdir / "backups").chmod(0o755)
    run = cli("doctor")
    assert run.exit_code == 0 and "chmod 700" in run.stdout and "with warnings" in run.stdout
    check = next(
        c for c in cli("doctor", "--json").json()["checks"] if c["name"] == "backup directory"
    )
    assert (
        check["ok"] is True and check["warning"] is True and "readable by others" in check["detail"]
    )


def test_doctor_fails_on_a_backup_dir_that_is_a_file(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    (cli.workdir / "backups").write_text("not a folder")
    run = cli("doctor")
    assert (
        run.exit_code == 1 and "not a directory" in run.stdout and "LUMIDB_BACKUP_DIR" in run.stdout
    )
