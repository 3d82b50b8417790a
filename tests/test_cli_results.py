"""Results and their exit codes: one JSON document per invocation, the code the result carries."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from conftest import Cli, Run

from lumidb.connection import DatabaseTarget


def execute(target: DatabaseTarget, *statements: str) -> None:
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        for statement in statements:
            conn.execute(statement)


def one_document(run: Run) -> dict[str, object]:
    """The whole of stdout as one JSON document (json.loads refuses a second one after it)."""
    document = json.loads(run.stdout)
    assert isinstance(document, dict) and document["version"] == 1
    return document


def test_verify_json_of_a_damaged_backup_is_one_document(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    made = cli("backup", "--json")
    assert made.exit_code == 0, made.stderr
    path = Path(one_document(made)["path"])  # type: ignore[arg-type]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    run = cli("backups", "verify", str(path), "--json")
    assert run.exit_code == 1
    document = one_document(run)
    assert document["kind"] == "verify_result" and document["ok"] is False
    assert document["checksum_ok"] is False
    assert run.stderr.startswith("error:") and "did not verify" in run.stderr


def test_backup_verify_json_that_fails_is_one_document(cli: Cli, db: DatabaseTarget) -> None:
    """A table using a type from a schema the backup leaves out cannot restore on its own."""
    execute(
        db,
        "CREATE SCHEMA extra",
        "CREATE DOMAIN extra.points AS integer CHECK (VALUE >= 0)",
        "CREATE TABLE loyalty (id integer PRIMARY KEY, points extra.points)",
        "INSERT INTO loyalty VALUES (1, 10)",
    )
    cli.use(db)
    run = cli("backup", "--verify", "--json")
    assert run.exit_code == 1
    document = one_document(run)
    assert document["kind"] == "backup_result" and document["ok"] is False
    verification = document["verification"]
    assert isinstance(verification, dict) and verification["differences"]
    assert "did not verify" in run.stderr


def test_adopt_json_that_refuses_is_one_document(cli: Cli, empty_db: DatabaseTarget) -> None:
    execute(empty_db, "CREATE TABLE users (id text PRIMARY KEY)")
    cli.use(empty_db)
    run = cli("migrate", "adopt", "--json")
    assert run.exit_code == 3
    document = one_document(run)
    assert document["kind"] == "adopt_result" and document["adopted"] is False
    assert document["differences"]
    assert "docs/SCHEMA.md" in run.stderr


def test_doctor_json_that_fails_exits_1_with_one_document(
    cli: Cli, empty_db: DatabaseTarget
) -> None:
    cli.use(empty_db)
    run = cli("doctor", "--json")
    assert run.exit_code == 1
    document = one_document(run)
    assert document["kind"] == "doctor_report" and document["ok"] is False


def test_status_check_exits_1_when_behind(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    run = cli("migrate", "status", "--check", "--json")
    assert run.exit_code == 1
    assert one_document(run)["up_to_date"] is False
    assert cli("migrate", "status", "--json").exit_code == 0
