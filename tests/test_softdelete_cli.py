"""`lumidb purge`, `restore-inactive` and `inactive` as people, cron and CI run them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from conftest import LUMIDB, Cli, clean_env, url_of
from test_softdelete import NOW, SQL_EMAIL, build, ids, sql, table
from test_softdelete import pg15_db as pg15_db  # the fixture

from lumidb.connection import DatabaseTarget
from lumidb.locks import database_lock
from lumidb.timespec import utc_now


@pytest.fixture
def data(cli: Cli, db: DatabaseTarget) -> DatabaseTarget:
    """The core tests' rows, moved in time so their ages hold against the real clock
    the command reads (40 days and 1 day before now, whatever today is)."""
    build(db)
    shift = utc_now() - NOW
    for name in ("users", "products"):
        sql(db, f'UPDATE {name} SET "updatedAt" = "updatedAt" + %s', (shift,))
    cli.use(db)
    return db


def everything(target: DatabaseTarget) -> dict[str, object]:
    names = ("users", "products", "orders", "order_items", "skin_analyses")
    return {name: table(target, name) for name in names}


@pytest.mark.parametrize("command", ["purge", "restore-inactive", "inactive"])
def test_help_has_an_example(cli: Cli, command: str) -> None:
    run = cli(command, "--help")
    assert run.exit_code == 0 and "Example" in run.stdout


def test_purge_dry_run_needs_no_yes_and_changes_nothing(cli: Cli, data: DatabaseTarget) -> None:
    before = everything(data)
    run = cli("purge", "--dry-run")
    assert run.exit_code == 0, run.stderr
    assert "delete 3, anonymise 1" in run.stdout and "in 1 order item(s)" in run.stdout
    assert "dry run" in run.stdout
    assert everything(data) == before
    doc = json.loads(cli("purge", "--dry-run", "--json").stdout)
    assert doc["kind"] == "purge_plan" and doc["version"] == 1
    assert doc["users_anonymise"] == ["u-orders"]


def test_purge_without_terminal_or_yes_is_refused(cli: Cli, data: DatabaseTarget) -> None:
    before = everything(data)
    run = cli("purge")
    assert run.exit_code == 3 and "--yes" in run.stderr
    assert everything(data) == before
    assert not (cli.workdir / "backups").exists()


def test_purge_takes_a_safety_backup_and_says_how_to_undo(cli: Cli, data: DatabaseTarget) -> None:
    orders = table(data, "orders")
    run = cli("purge", "--yes", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert doc["kind"] == "purge_result"
    assert sorted(doc["users_deleted"]) == ["u-plain", "u-recent", "u-sql"]
    assert doc["users_anonymised"] == ["u-orders"]
    assert doc["products_deleted"] == ["p-plain", "p-recent"]
    safety = Path(doc["safety_backup"])
    assert safety.is_file() and safety.parent.name == "safety"
    assert doc["undo_command"] == f"lumidb restore-latest --file {safety}"
    assert table(data, "orders") == orders
    # The undo really undoes.
    undo = cli("restore-latest", "--yes", "--no-safety-backup", "--file", str(safety))
    assert undo.exit_code == 0, undo.stderr
    assert "u-plain" in ids(data, "users")


def test_purge_human_output_names_the_backup(cli: Cli, data: DatabaseTarget) -> None:
    run = cli("purge", "--yes", "--users", "--older-than", "30d")
    assert run.exit_code == 0, run.stderr
    assert "undo with:" in run.stdout and "lumidb restore-latest --file" in run.stdout
    assert "u-recent" in ids(data, "users") and "p-plain" in ids(data, "products")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "nobody@x.test"], "no such record: email 'nobody@x.test'"),
        (["--email", "u-plain@x.test", "--email", "no@x.test"], "no@x.test"),
        (["--sku", "'; DELETE FROM products; --"], "no such record"),
        (["--id", "nope"], "no such record: id 'nope'"),
        (["--older-than", "30 days"], "is not a duration"),
        (["--older-than", "-1d"], "is not a duration"),
    ],
)
def test_purge_bad_input_exits_2_before_anything(
    cli: Cli, data: DatabaseTarget, args: list[str], message: str
) -> None:
    before = everything(data)
    run = cli("purge", "--yes", *args)
    assert run.exit_code == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert everything(data) == before
    assert not (cli.workdir / "backups").exists()  # checked before the safety backup


def test_purge_older_than_setting_default_and_bad_value(cli: Cli, data: DatabaseTarget) -> None:
    cli.setenv("LUMIDB_PURGE_OLDER_THAN", "soon")
    run = cli("purge", "--dry-run")
    assert run.exit_code == 2 and "LUMIDB_PURGE_OLDER_THAN" in run.stderr
    cli.setenv("LUMIDB_PURGE_OLDER_THAN", "2w")
    doc = cli("purge", "--dry-run", "--json").json()
    assert "u-recent" not in doc["users_delete"] and "u-plain" in doc["users_delete"]
    doc = cli("purge", "--dry-run", "--json", "--older-than", "0").json()
    assert "u-recent" in doc["users_delete"]


def test_sql_in_an_email_is_data(cli: Cli, data: DatabaseTarget) -> None:
    run = cli("purge", "--yes", "--no-safety-backup", "--email", SQL_EMAIL)
    assert run.exit_code == 0, run.stderr
    assert "u-sql" not in ids(data, "users") and len(ids(data, "users")) == 4


def test_active_record_is_nothing_to_do(cli: Cli, data: DatabaseTarget) -> None:
    for command in ("purge", "restore-inactive"):
        run = cli(command, "--email", "u-active@x.test")
        assert run.exit_code == 0, run.stderr
        assert "not soft-deleted" in run.stdout and "nothing to do" in run.stdout


def test_restore_inactive_scoped_and_anonymised(cli: Cli, data: DatabaseTarget) -> None:
    assert cli("purge", "--yes", "--no-safety-backup", "--id", "u-orders").exit_code == 0
    run = cli("restore-inactive", "--dry-run", "--users")
    assert run.exit_code == 0 and "cannot restore" in run.stdout and "anonymised" in run.stdout
    assert cli("restore-inactive").exit_code == 3  # no terminal, no --yes
    run = cli(
        "restore-inactive", "--yes", "--json", "--sku", "SKU-p-plain", "--email", "u-plain@x.test"
    )
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert (doc["users_restored"], doc["products_restored"]) == (["u-plain"], ["p-plain"])
    active = sql(data, 'SELECT id FROM users WHERE "isActive" ORDER BY id')
    assert active == [("u-active",), ("u-plain",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "is neither a date"),
        (["--since", "2999-01-01"], "in the future"),
        (["--email", "ghost@x.test"], "no such record"),
    ],
)
def test_restore_inactive_bad_input(
    cli: Cli, data: DatabaseTarget, args: list[str], message: str
) -> None:
    before = everything(data)
    run = cli("restore-inactive", "--yes", *args)
    assert run.exit_code == 2 and message in run.stderr
    assert everything(data) == before


def test_restore_inactive_since_a_date(cli: Cli, data: DatabaseTarget) -> None:
    # A date long before the fixture's rows takes them all; a week back only the recent.
    doc = cli("restore-inactive", "--dry-run", "--json", "--since", "2000-01-01").json()
    assert doc["kind"] == "reactivate_plan" and len(doc["products"]) == 3
    doc = cli("restore-inactive", "--dry-run", "--json", "--since", "1w").json()
    assert (doc["users"], doc["products"]) == (["u-recent"], ["p-recent"])


def test_inactive_lists_and_takes_no_lock(cli: Cli, data: DatabaseTarget) -> None:
    cli.setenv("LUMIDB_LOCK_TIMEOUT", "0.2")
    with database_lock(data, "purge", timeout=5):
        run = cli("inactive", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    actions = {r["label"]: r["purge_action"] for r in doc["users"] + doc["products"]}
    assert actions["u-orders@x.test"] == "anonymise"
    assert actions["SKU-p-ordered"] == "keep" and actions["u-plain@x.test"] == "delete"
    cli.setenv("COLUMNS", "200")  # the table's cells unwrapped, whatever the names' lengths
    assert "keep (in 1 order item(s))" in cli("inactive").stdout


def test_two_runs_at_once_second_is_refused(cli: Cli, data: DatabaseTarget) -> None:
    cli.setenv("LUMIDB_LOCK_TIMEOUT", "0.5")
    before = everything(data)
    with database_lock(data, "purge", timeout=5):
        for command in ("purge", "restore-inactive"):
            run = cli(command, "--yes", "--no-safety-backup" if command == "purge" else "--users")
            assert run.exit_code == 3, run.stderr
            assert "lumidb purge" in run.stderr
    assert everything(data) == before


def _bulk(target: DatabaseTarget, n: int) -> None:
    sql(
        target,
        'INSERT INTO users (id, email, password, "isActive", "updatedAt") '
        "SELECT 'b' || g, 'b' || g || '@x.test', 'h', false, now() - interval '40 days' "
        "FROM generate_series(1, %s) g",
        (n,),
    )
    sql(
        target,
        'INSERT INTO skin_analyses (id, "userId", tone, "skinType", "rgbR", "rgbG", "rgbB") '
        "SELECT 's' || g, 'b' || g, 'COOL', 'OILY', 1, 1, 1 FROM generate_series(1, %s) g",
        (n,),
    )


def test_purge_killed_mid_run_is_consistent_and_a_rerun_finishes(
    cli: Cli, data: DatabaseTarget, tmp_path: Path
) -> None:
    _bulk(data, 30000)
    orders, items = table(data, "orders"), table(data, "order_items")
    env = clean_env(DATABASE_URL=url_of(data), LUMIDB_PURGE_BATCH="100", LUMIDB_LOCK_TIMEOUT="0.5")
    # The application holds one user in the middle of the run, so the purge is caught
    # mid-way with many batches committed and more to come.
    app = psycopg.connect(**data.conninfo_params("lumiai-api"))
    app.execute("SELECT 1 FROM users WHERE id = 'b5000' FOR UPDATE")
    proc = subprocess.Popen(
        [LUMIDB, "purge", "--yes", "--no-safety-backup"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lumidb purge' AND wait_event_type = 'Lock'"
        while sql(data, waiting)[0][0] == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # A second purge meanwhile waits, then is refused naming the first.
        second = subprocess.run(
            [LUMIDB, "purge", "--yes", "--no-safety-backup"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 3 and "lumidb purge" in second.stderr, second.stderr
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate()
        app.close()
    left = sql(data, "SELECT count(*) FROM users")[0][0]
    assert 5 < left < 30000
    assert sql(data, 'SELECT count(*) FROM skin_analyses WHERE "userId" IS NULL') == [(1,)]
    assert table(data, "orders") == orders and table(data, "order_items") == items
    run = cli("purge", "--yes", "--no-safety-backup")
    assert run.exit_code == 0, run.stderr
    assert ids(data, "users") == {"u-active", "u-orders"}
    assert sql(data, 'SELECT count(*) FROM skin_analyses WHERE "userId" IS NULL') == [(1,)]


@pytest.mark.pg15
def test_purge_cli_with_safety_backup_on_pg15(cli: Cli, pg15_db: DatabaseTarget) -> None:
    build(pg15_db)
    cli.use(pg15_db)
    run = cli("purge", "--yes", "--json")
    assert run.exit_code == 0, run.stderr
    assert Path(run.json()["safety_backup"]).is_file()
    assert ids(pg15_db, "users") == {"u-active", "u-orders"}


def test_plan_says_production_and_redaction(cli: Cli, data: DatabaseTarget) -> None:
    cli.setenv("LUMIDB_ENV", "production")
    run = cli("purge", "--dry-run", "--redact-orders")
    assert run.exit_code == 0, run.stderr
    assert "PRODUCTION" in run.stdout
    assert "clear addresses and notes of 1" in run.stdout
    assert "PRODUCTION" in cli("restore-inactive", "--dry-run").stdout
    assert cli("purge", "--redact-orders").exit_code == 3  # no terminal: refused
    assert sql(data, 'SELECT "shippingAddress" FROM orders WHERE id = %s', ("o1",)) == [
        ("ship addr",)
    ]


def test_inactive_never_starts_a_local_server(cli: Cli) -> None:
    (cli.workdir / "pyproject.toml").write_text("")  # a project root, so .lumidb would go here
    run = cli("inactive")
    assert run.exit_code == 1 and "no local server" in run.stderr
    assert not (cli.workdir / ".lumidb").exists()
