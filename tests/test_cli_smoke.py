from conftest import Cli

from lumidb.connection import DatabaseTarget


def test_status_on_fresh_db(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("migrate", "status", "--check", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert doc["current"] == ["0001"] and doc["up_to_date"] is True
