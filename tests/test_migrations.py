"""`lumidb migrate`: deploy, the development flow, status, down, adopt, locks and the environment record."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import APP_PASSWORD, LUMIDB, Cli, clean_env, url_of

from lumidb import migration_dev, migrations, revision_files
from lumidb.connection import DatabaseTarget, connect
from lumidb.locks import LOCK_CLASS, LOCK_ID

PRISMA_SQL = migrations.MIGRATIONS_DIR / "versions" / "20261125_0001_initial.sql"


def make_prisma_database(target: DatabaseTarget) -> None:
    """What the old Prisma setup left: its schema, its history table, some data."""
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        conn.execute(PRISMA_SQL.read_text())
        conn.execute(
            """
            CREATE TABLE "_prisma_migrations" (
                "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL,
                "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT,
                "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
                "applied_steps_count" INTEGER NOT NULL DEFAULT 0)
            """
        )
        conn.execute(
            "INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, applied_steps_count)"
            " VALUES ('m1', 'abc', '20240101000000_init', now(), 1)"
        )
        conn.execute(
            "INSERT INTO users (id, email, password, \"updatedAt\") VALUES ('u1', 'ana@example.com', 'h', now())"
        )


def table_exists(target: DatabaseTarget, name: str) -> bool:
    with connect(target) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def test_deploy_on_empty_database(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    run = cli("migrate", "deploy", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert doc["kind"] == "deploy_result" and doc["version"] == 1
    assert [r["revision"] for r in doc["applied"]] == ["0001"] and doc["current"] == ["0001"]
    assert table_exists(empty_db, "users")
    again = cli("migrate", "deploy", "--quiet")
    assert again.exit_code == 0 and again.stdout == ""


def test_three_parallel_deploys_all_succeed_once(empty_db: DatabaseTarget, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=url_of(empty_db))
    procs = [
        subprocess.Popen(
            [LUMIDB, "migrate", "deploy", "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.returncode, *p.communicate(timeout=120)) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    import json

    applied = [json.loads(out)["applied"] for _, out, _ in results]
    assert sorted(len(a) for a in applied) == [0, 0, 1]
    with connect(empty_db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]


@pytest.fixture
def scratch_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the migrations folder, so tests can add revisions without touching the source tree."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", copy)
    monkeypatch.setattr(revision_files, "VERSIONS_DIR", copy / "versions")
    return copy


def write_revision(folder: Path, revision: str, down: str, upgrade_sql: str) -> None:
    (folder / "versions" / f"20261126_0000_{revision}_test.py").write_text(
        f'"""{revision}: test revision"""\nfrom alembic import op\n\nrevision = "{revision}"\n'
        f'down_revision = "{down}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        f"def upgrade() -> None:\n    op.execute({upgrade_sql!r})\n\n\ndef downgrade() -> None:\n    pass\n"
    )


def test_failing_revision_leaves_schema_and_version_as_before(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    write_revision(scratch_migrations, "0002", "0001", "CREATE TABLE good_table (id int)")
    write_revision(
        scratch_migrations,
        "0003",
        "0002",
        "CREATE TABLE half_done (id int); SELECT no_such_column FROM users",
    )
    cli.use(db)
    run = cli("migrate", "deploy")
    assert run.exit_code == 1
    assert "revision 0003" in run.stderr and "no_such_column" in run.stderr
    assert table_exists(db, "good_table") and not table_exists(db, "half_done")
    with connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]


def test_status_check_fails_when_pending(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    write_revision(scratch_migrations, "0002", "0001", "CREATE TABLE later_table (id int)")
    cli.use(db)
    run = cli("migrate", "status", "--check")
    assert run.exit_code == 1
    assert "0002" in run.stdout and "pending" in run.stdout
    assert cli("migrate", "history").stdout.count("pending") == 1


def test_dev_flow_without_terminal_refuses_when_a_name_is_needed(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    with connect(db) as conn:
        conn.execute("DROP INDEX products_sku_idx")
    cli.use(db)
    run = cli("migrate")
    assert run.exit_code == 3
    assert "--name" in run.stderr
    assert list((scratch_migrations / "versions").glob("*.py")) == list(
        (scratch_migrations / "versions").glob("*0001*.py")
    )


def test_dev_flow_writes_and_applies_a_named_revision(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    with connect(db) as conn:
        conn.execute("DROP INDEX products_sku_idx")
    cli.use(db)
    run = cli("migrate", "--name", "restore sku index")
    assert run.exit_code == 0, run.stderr
    written = [p for p in (scratch_migrations / "versions").glob("*.py") if "0001" not in p.name]
    assert len(written) == 1 and written[0].name.endswith("_restore_sku_index.py")
    assert written[0].name[:8].isdigit()
    assert "products_sku_idx" in written[0].read_text()
    assert cli("migrate", "status", "--check").exit_code == 0


def test_dev_flow_refuses_in_a_non_editable_install(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration_dev, "source_tree_writable", lambda: False)
    with connect(db) as conn:
        conn.execute("DROP INDEX products_sku_idx")
    cli.use(db)
    run = cli("migrate", "--name", "x")
    assert run.exit_code == 2 and "installed as a package" in run.stderr
    assert cli("migrate", "new", "y", "--empty").exit_code == 2


def test_migrate_new_empty_writes_a_revision(cli: Cli, scratch_migrations: Path) -> None:
    run = cli("migrate", "new", "add user phone", "--empty", "--json")
    assert run.exit_code == 0, run.stderr
    path = Path(run.json()["path"])
    assert path.parent == scratch_migrations / "versions" and path.name.endswith(
        "_add_user_phone.py"
    )
    assert 'down_revision: str | Sequence[str] | None = "0001"' in path.read_text()


def test_down_needs_confirmation_without_terminal(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("migrate", "down")
    assert run.exit_code == 3 and "--yes" in run.stderr
    assert table_exists(db, "users")


def test_environment_record_is_raised_never_lowered(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("NODE_ENV", "production")
    assert cli("migrate", "deploy").exit_code == 0
    cli.setenv("NODE_ENV", "development")
    run = cli("migrate", "deploy", "--json")
    assert run.json()["environment"] == "production"
    down = cli("migrate", "down", "--yes")
    assert down.exit_code == 3 and "production" in down.stderr
    dev_flow = cli("migrate")
    assert dev_flow.exit_code == 3 and "migrate deploy" in dev_flow.stderr
    assert table_exists(db, "users")


def test_deploy_waits_for_the_lock_then_refuses_naming_the_holder(
    cli: Cli, db: DatabaseTarget
) -> None:
    with psycopg.connect(autocommit=True, **db.conninfo_params("lumidb restore-latest")) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_ID))
        cli.use(db)
        cli.setenv("LUMIDB_LOCK_TIMEOUT", "1")
        run = cli("migrate", "deploy")
    assert run.exit_code == 3
    assert "lumidb restore-latest" in run.stderr and "pid" in run.stderr


def test_deploy_refuses_an_unadopted_prisma_database(cli: Cli, empty_db: DatabaseTarget) -> None:
    make_prisma_database(empty_db)
    cli.use(empty_db)
    run = cli("migrate", "deploy")
    assert run.exit_code == 3 and "lumidb migrate adopt" in run.stderr
    assert not table_exists(empty_db, "alembic_version")


def test_adopt_takes_over_a_prisma_database(cli: Cli, empty_db: DatabaseTarget) -> None:
    make_prisma_database(empty_db)
    cli.use(empty_db)
    run = cli("migrate", "adopt", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["adopted"] is True
    assert cli("migrate", "status", "--check").exit_code == 0
    with connect(empty_db) as conn:
        assert conn.execute("SELECT id, email FROM users").fetchall() == [("u1", "ana@example.com")]
        assert conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone() == (1,)
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'lumidb_adopt%'"
        ).fetchone() == (0,)
    assert "already" in cli("migrate", "adopt").stdout


def test_adopt_refuses_and_lists_every_difference(cli: Cli, empty_db: DatabaseTarget) -> None:
    make_prisma_database(empty_db)
    with connect(empty_db) as conn:
        conn.execute("DROP INDEX orders_status_idx")
        conn.execute("ALTER TABLE products ALTER COLUMN currency SET DEFAULT 'USD'")
    cli.use(empty_db)
    run = cli("migrate", "adopt")
    assert run.exit_code == 3
    assert "orders_status_idx is missing" in run.stdout
    assert "revision 0001 has it, the database does not" in run.stdout
    assert "products.currency" in run.stdout and "USD" in run.stdout
    assert not table_exists(empty_db, "alembic_version")


def test_prisma_url_in_dotenv_works_and_hides_the_password(cli: Cli, db: DatabaseTarget) -> None:
    (cli.workdir / ".env").write_text(
        f'DATABASE_URL="{url_of(db, connection_limit="5", pool_timeout="10")}"\nNODE_ENV=development\n'
    )
    for args in (
        ["migrate", "status", "--check"],
        ["migrate", "deploy"],
        ["migrate", "history"],
        ["doctor"],
    ):
        run = cli(*args)
        assert run.exit_code == 0, (args, run.stderr)
        assert APP_PASSWORD not in run.stdout + run.stderr
    assert "***" in cli("migrate", "status").stdout


def test_schema_parameter_is_honoured(cli: Cli, empty_db: DatabaseTarget) -> None:
    cli.use(empty_db)
    cli.setenv("DATABASE_URL", url_of(empty_db).replace("schema=public", "schema=shop"))
    assert cli("migrate", "deploy").exit_code == 0
    with connect(empty_db) as conn:
        assert conn.execute(
            "SELECT to_regclass('shop.users') IS NOT NULL, to_regclass('public.users')"
        ).fetchone() == (True, None)
        assert conn.execute("SELECT version_num FROM shop.alembic_version").fetchall() == [
            ("0001",)
        ]
    assert cli("migrate", "status", "--check").exit_code == 0


# --- day one (issue 16) -----------------------------------------------------------------

REPO = Path(__file__).parent.parent


def ruff_passes(path: Path) -> None:
    """The project's own CI checks on a file: `ruff format --check` and `ruff check`."""
    config = ["--config", str(REPO / "pyproject.toml")]
    ruff = str(Path(shutil.which("ruff", path=str(Path(LUMIDB).parent)) or "ruff"))
    for args in (["format", "--check"], ["check"]):
        done = subprocess.run(
            [ruff, *args, *config, str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"ruff {args[0]}: {done.stdout}{done.stderr}"


def written_revisions(folder: Path) -> list[Path]:
    return [p for p in (folder / "versions").glob("*.py") if "0001" not in p.name]


def test_written_revisions_pass_the_projects_ruff(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    with connect(db) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN phone text")
        conn.execute("DROP INDEX products_sku_idx")
    cli.use(db)
    run = cli("migrate", "new", "tidy up", "--json")
    assert run.exit_code == 0, run.stderr
    generated = Path(run.json()["path"])
    assert "op.drop_column" in generated.read_text()
    ruff_passes(generated)
    empty = cli("migrate", "new", "data fix", "--empty", "--json")
    assert empty.exit_code == 0, empty.stderr
    ruff_passes(Path(empty.json()["path"]))


def test_migrate_new_without_changes_writes_nothing(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    cli.use(db)
    run = cli("migrate", "new", "nothing")
    assert run.exit_code == 0, run.stderr
    assert "no changes" in run.stdout and "--empty" in run.stdout
    assert written_revisions(scratch_migrations) == []
    as_json = cli("migrate", "new", "nothing", "--json")
    assert as_json.exit_code == 0 and as_json.json()["written"] is False
    assert written_revisions(scratch_migrations) == []


def test_deploy_and_dev_flow_json_say_applied_true(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    write_revision(scratch_migrations, "0002", "0001", "SELECT 1")  # no drift for the dev flow
    cli.use(db)
    run = cli("migrate", "deploy", "--json")
    assert run.exit_code == 0, run.stderr
    assert [(r["revision"], r["applied"]) for r in run.json()["applied"]] == [("0002", True)]
    write_revision(scratch_migrations, "0003", "0002", "SELECT 1")
    dev = cli("migrate", "--json")
    assert dev.exit_code == 0, dev.stderr
    assert [(r["revision"], r["applied"]) for r in dev.json()["applied"]] == [("0003", True)]


def truncate_every_table(target: DatabaseTarget) -> None:
    """What the application's e2e helper (PrismaService.cleanDatabase) does."""
    with connect(target) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


def versions(target: DatabaseTarget) -> list[tuple[str]]:
    with connect(target) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_emptied_history_is_recorded_again_outside_production(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    write_revision(scratch_migrations, "0002", "0001", "CREATE TABLE second (id int)")
    cli.use(db)
    assert cli("migrate", "deploy").exit_code == 0
    truncate_every_table(db)
    assert versions(db) == []
    cli.setenv("NODE_ENV", "test")
    run = cli("migrate", "deploy")
    assert run.exit_code == 0, run.stderr
    assert "alembic_version was empty" in run.stderr and "revision 0002" in run.stderr
    assert versions(db) == [("0002",)]
    assert "current:  0002" in cli("migrate", "status").stdout


def test_emptied_history_is_recorded_again_by_the_development_flow(
    cli: Cli, db: DatabaseTarget
) -> None:
    truncate_every_table(db)
    cli.use(db)
    dev = cli("migrate", "--json")
    assert dev.exit_code == 0, dev.stderr
    assert "revision 0001" in dev.json()["notices"][0]
    assert versions(db) == [("0001",)]


def test_emptied_history_on_production_refuses_naming_adopt(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    truncate_every_table(db)
    cli.setenv("NODE_ENV", "production")
    run = cli("migrate", "deploy")
    assert run.exit_code == 3
    assert "alembic_version table is empty" in run.stderr and "revision 0001" in run.stderr
    assert "lumidb migrate adopt" in run.stderr and "another tool" not in run.stderr
    assert versions(db) == []
    assert cli("migrate", "adopt").exit_code == 0
    assert versions(db) == [("0001",)]


def test_down_to_the_current_revision_is_nothing_to_do(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("migrate", "down", "0001", "--yes")
    assert run.exit_code == 0, run.stderr
    assert "nothing to revert" in run.stdout
    assert versions(db) == [("0001",)]


def test_adopt_says_the_database_has_a_column_the_revision_has_not(
    cli: Cli, empty_db: DatabaseTarget
) -> None:
    make_prisma_database(empty_db)
    with connect(empty_db) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN phone text")
    cli.use(empty_db)
    run = cli("migrate", "adopt")
    assert run.exit_code == 3
    assert "the database has a column users.phone that revision 0001 does not" in run.stdout
    assert "not in the schema" not in run.stdout
    assert "docs/SCHEMA.md" in run.stderr


def test_restore_of_an_older_revision_says_so_and_names_deploy(
    cli: Cli, db: DatabaseTarget, scratch_migrations: Path
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", str(cli.workdir / "backups"))
    assert cli("backup", "--quiet").exit_code == 0
    write_revision(scratch_migrations, "0002", "0001", "ALTER TABLE users ADD COLUMN phone text")
    assert cli("migrate", "deploy").exit_code == 0
    dry = cli("restore-latest", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    change = "backup at 0001, database at 0002 → after the restore the database is at 0001"
    assert change in dry.stdout
    as_json = cli("restore-latest", "--dry-run", "--json")
    assert as_json.json()["revision_change"] == change
    assert as_json.json()["target_revision"] == "0002"
    run = cli("restore-latest", "--yes")
    assert run.exit_code == 0, run.stderr
    assert change in run.stdout
    assert "run `lumidb migrate deploy`" in run.stdout
    assert versions(db) == [("0001",)]


def test_output_options_before_a_migrate_subcommand_are_refused(
    cli: Cli, empty_db: DatabaseTarget
) -> None:
    """`lumidb migrate --json deploy` used to deploy and print the human view."""
    cli.use(empty_db)
    run = cli("migrate", "--json", "deploy")
    assert run.exit_code == 2 and run.stdout == ""
    assert (
        run.stderr.strip() == "error: --json goes after the command: lumidb migrate deploy --json"
    )
    quiet = cli("migrate", "-q", "down", "base", "--yes")
    assert quiet.exit_code == 2
    assert "-q goes after the command: lumidb migrate down base --yes -q" in quiet.stderr
    assert not table_exists(empty_db, "alembic_version") and not table_exists(empty_db, "users")


def test_name_before_a_migrate_subcommand_is_refused(cli: Cli, db: DatabaseTarget) -> None:
    """`lumidb migrate --name x status` used to ignore --name."""
    cli.use(db)
    run = cli("migrate", "--name", "x", "status")
    assert run.exit_code == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "--name is for the development flow alone (lumidb migrate --name x)" in run.stderr
    new = cli("migrate", "-n", "add_phone", "new", "--empty")
    assert new.exit_code == 2 and "lumidb migrate new add_phone" in new.stderr


def test_debug_may_come_before_a_migrate_subcommand(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    run = cli("migrate", "--debug", "status", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["kind"] == "migration_status"
