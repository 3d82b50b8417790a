"""URL parsing, masking and connection failures: the one place every URL goes through."""

from __future__ import annotations

import time

import pytest
from conftest import APP_PASSWORD, Cli, url_of
from pydantic import SecretStr

from lumidb.connection import DatabaseTarget, parse_database_url
from lumidb.errors import UsageError


def test_prisma_url_drops_client_only_parameters_and_keeps_libpq_ones() -> None:
    t = parse_database_url(
        "postgresql://lumiai:p%40ss%2Fw@db.example.com:6543/lumiai?schema=shop&connection_limit=5"
        "&pool_timeout=10&pgbouncer=true&sslmode=require&connect_timeout=3"
    )
    assert (t.host, t.port, t.user, t.dbname, t.schema) == (
        "db.example.com",
        6543,
        "lumiai",
        "lumiai",
        "shop",
    )
    assert isinstance(t.password, SecretStr) and t.password.get_secret_value() == "p@ss/w"
    assert "p@ss" not in f"{t.password} {t.password!r} {t}"
    assert dict(t.params) == {"sslmode": "require"} and t.connect_timeout == 3 and t.pgbouncer
    assert t.needs_ssl
    assert (
        t.masked_url()
        == "postgresql://lumiai:***@db.example.com:6543/lumiai?schema=shop&sslmode=require"
    )
    assert "p@ss" not in t.child_dsn() and "password" not in t.child_dsn()
    assert t.child_env()["PGPASSWORD"] == "p@ss/w"
    assert "p@ss" not in repr(t)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:secretpw@h/db", "must start with postgresql://"),
        ("postgresql://u:secretpw@h:notaport/db", "malformed"),
        ("postgresql://u:secretpw@h:5432/", "names no database"),
        ("postgresql://u:secretpw@h/db?foo=bar", "unknown parameter 'foo'"),
        ("postgresql://u:secretpw@/db", "names no host"),
    ],
)
def test_malformed_urls_are_usage_errors_without_the_password(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_database_url(url)
    assert fragment in str(info.value) and "secretpw" not in str(info.value)


def test_url_parsing_knows_every_parameter_of_the_installed_libpq() -> None:
    from psycopg import pq

    from lumidb.connection import LIBPQ_KEYWORDS

    installed = {opt.keyword.decode() for opt in pq.Conninfo.get_defaults()}
    assert installed <= LIBPQ_KEYWORDS


def test_parsing_a_url_does_not_import_psycopg() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from lumidb.connection import parse_database_url; "
        "parse_database_url('postgresql://u@h:5432/d?sslmode=require&schema=s'); "
        "print('psycopg' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_malformed_url_exits_2_for_every_command(cli: Cli) -> None:
    cli.setenv("DATABASE_URL", "postgresql://u:secretpw@h:notaport/db")
    for args in (["migrate", "deploy"], ["migrate", "status"], ["migrate"]):
        run = cli(*args)
        assert run.exit_code == 2, args
        assert run.stderr.startswith("error:") and len(run.stderr.strip().splitlines()) == 1
        assert "secretpw" not in run.stderr + run.stdout


def test_direct_url_wins_over_database_url(cli: Cli, db: DatabaseTarget) -> None:
    cli.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/nowhere")
    cli.setenv("DIRECT_URL", url_of(db))
    assert cli("migrate", "status", "--check").exit_code == 0


def test_pgbouncer_without_direct_url_warns(cli: Cli, db: DatabaseTarget) -> None:
    cli.setenv("DATABASE_URL", url_of(db, pgbouncer="true"))
    run = cli("migrate", "status")
    assert run.exit_code == 0 and "DIRECT_URL" in run.stderr


def test_wrong_password_fails_fast_with_host_port_and_cause(cli: Cli, db: DatabaseTarget) -> None:
    cli.setenv("DATABASE_URL", url_of(db).replace(APP_PASSWORD, "wrong-password-123"))
    started = time.monotonic()
    run = cli("migrate", "deploy")
    assert run.exit_code == 1
    assert f"{db.host}:{db.port}" in run.stderr and "password authentication failed" in run.stderr
    assert "wrong-password-123" not in run.stderr + run.stdout
    assert time.monotonic() - started < 10


def test_unreachable_server_fails_within_seconds(cli: Cli) -> None:
    cli.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/db?schema=public")
    started = time.monotonic()
    run = cli("migrate", "status")
    assert run.exit_code == 1
    assert "127.0.0.1:1" in run.stderr and "refused" in run.stderr.lower()
    assert time.monotonic() - started < 10


def test_unknown_environment_is_a_usage_error(cli: Cli, db: DatabaseTarget) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_ENV", "staging")
    run = cli("migrate", "deploy")
    assert run.exit_code == 2 and "LUMIDB_ENV" in run.stderr


@pytest.mark.pg15
def test_tls_server_with_password(cli: Cli, pg15: object) -> None:
    """A server lumidb did not start, password authentication and sslmode=require."""
    from servers import Pg15TestServer

    assert isinstance(pg15, Pg15TestServer)
    pg15.create_database("tls_app")
    target = pg15.admin_target("tls_app", sslmode="require")
    cli.setenv("DATABASE_URL", url_of(target))
    run = cli("migrate", "deploy")
    assert run.exit_code == 0, run.stderr
    doctor = cli("doctor")
    assert doctor.exit_code == 0, doctor.stdout
    assert "15." in doctor.stdout and "/usr/lib/postgresql/15/bin" in doctor.stdout
    pg15.drop_database("tls_app")


# Passwords holding URL delimiters, written into the URL without percent-encoding. None
# shares three characters with the words of lumidb's messages.
UNENCODED_PASSWORDS = ["Zq/x9k", "Kj#7wQ2", "r?Tz8vM", "41/73", "9#0p", "X/y?Z#w", "Vb8@Q/1z"]


def _fragments(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)} or {text}


@pytest.mark.parametrize("password", UNENCODED_PASSWORDS)
def test_unencoded_password_is_never_echoed(cli: Cli, password: str) -> None:
    """A `/`, `#` or `?` in a password moves its parts into the port, path or query:
    the error names the failing part and says to percent-encode, quoting none of it."""
    cli.setenv("DATABASE_URL", f"postgresql://lumiai:{password}@127.0.0.1:5432/lumiai")
    run = cli("migrate", "status")
    assert run.exit_code == 2, run.stdout + run.stderr
    assert "percent-encode" in run.stderr
    shown = run.stdout + run.stderr
    leaked = [f for f in _fragments(password) if f in shown]
    assert not leaked, shown
    with pytest.raises(UsageError) as info:
        parse_database_url(f"postgresql://lumiai:{password}@db.example.com/lumiai")
    assert not [f for f in _fragments(password) if f in str(info.value)], str(info.value)


def test_bad_port_is_named_without_quoting_it() -> None:
    with pytest.raises(UsageError) as info:
        parse_database_url("postgresql://u@h:Xy7Q/db")
    assert "port" in str(info.value) and "Xy7Q" not in str(info.value)
    with pytest.raises(UsageError) as info:
        parse_database_url("postgresql://u@h/db?port=Xy7Q")
    assert "port" in str(info.value) and "Xy7Q" not in str(info.value)


def test_child_programs_never_get_the_buckets_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        monkeypatch.setenv(name, "s3cr3t")
    monkeypatch.setenv("PGSSLROOTCERT", "/ca.pem")
    env = parse_database_url("postgresql://u:p@h/db").child_env()
    assert not [k for k in env if k.startswith("AWS_")] and env["PGSSLROOTCERT"] == "/ca.pem"
