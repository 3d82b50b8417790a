"""Client-program discovery against the real programs and the real test servers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from servers import Pg15TestServer, Pg18TestServer, _TestServer

from lumidb.connection import DatabaseTarget
from lumidb.errors import OperationError, UsageError
from lumidb.pgtools import (
    ClientSuite,
    choose_client,
    find_client_suites,
    judge_suites,
    server_major_from_version_num,
)
from lumidb.server import bundled_bin_dir

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


def _suite_in(bin_dir: Path) -> ClientSuite:
    found = [s for s in find_client_suites() if s.bin_dir == bin_dir.resolve()]
    assert len(found) == 1, find_client_suites()
    return found[0]


def _dump_schema(suite: ClientSuite, target: DatabaseTarget) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(suite.program("pg_dump")), "--schema-only", f"--dbname={target.child_dsn()}"],
        env=target.child_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _with_table(server: _TestServer, dbname: str) -> DatabaseTarget:
    import psycopg

    server.drop_database(dbname)
    server.create_database(dbname)
    target = server.admin_target(dbname)
    with psycopg.connect(autocommit=True, **target.conninfo_params()) as conn:
        conn.execute("CREATE TABLE pgtools_probe (id bigint PRIMARY KEY, note text)")
    return target


def test_server_major_from_version_num() -> None:
    assert server_major_from_version_num(180006) == 18
    assert server_major_from_version_num(150018) == 15


def test_finds_the_bundled_suite_without_ssl() -> None:
    suite = _suite_in(bundled_bin_dir())
    assert (suite.origin, suite.major, suite.ssl, suite.missing) == ("bundled", 18, False, ())
    assert suite.version.startswith("18.")


@pytest.mark.pg15
def test_finds_debians_15_suite_with_ssl_not_its_wrapper() -> None:
    suite = _suite_in(DEBIAN_15)
    assert (suite.origin, suite.major, suite.ssl, suite.missing) == ("system", 15, True, ())
    dirs = [s.bin_dir for s in find_client_suites()]
    assert Path("/usr/bin") not in dirs
    assert len(dirs) == len(set(dirs))


def test_pg18_server_gets_the_18_suite(pg18: Pg18TestServer) -> None:
    assert choose_client(pg18.major, needs_ssl=False).major == 18


@pytest.mark.pg15
def test_pg15_server_prefers_the_equal_major(pg15: Pg15TestServer) -> None:
    assert pg15.major == 15
    assert choose_client(15, needs_ssl=False).bin_dir == DEBIAN_15
    assert choose_client(15, needs_ssl=True).bin_dir == DEBIAN_15


@pytest.mark.pg15
def test_verdicts_say_what_each_suite_lacks() -> None:
    verdicts = {v.suite.major: v for v in judge_suites(find_client_suites(), 18, needs_ssl=True)}
    assert verdicts[18].reason == "no SSL support"
    assert verdicts[15].reason == "older than the server"
    assert not any(v.fits for v in verdicts.values())


def test_choosing_runs_only_what_the_choice_needs() -> None:
    """Against an 18 server without TLS: no ldd, and no older Debian suite is run."""
    from lumidb import pgtools

    pgtools.PROBED.clear()
    pgtools.SSL_PROBED.clear()
    chosen = choose_client(18, needs_ssl=False)
    assert chosen.major >= 18
    assert pgtools.SSL_PROBED == {}
    assert DEBIAN_15 not in pgtools.PROBED
    assert choose_client(18, needs_ssl=False) == chosen  # the same answer, asked again
    # SSL asked only when needed, and then only of the suites that could fit
    with pytest.raises(OperationError, match="no SSL"):
        choose_client(18, needs_ssl=True, configured_dir=bundled_bin_dir())
    assert pgtools.SSL_PROBED.get(bundled_bin_dir().resolve()) is False


def test_configured_bundled_suite_cannot_do_ssl() -> None:
    with pytest.raises(OperationError) as caught:
        choose_client(18, needs_ssl=True, configured_dir=bundled_bin_dir())
    message = str(caught.value)
    assert f"found {_suite_in(bundled_bin_dir()).version} " in message
    assert "no SSL" in message
    assert "LUMIDB_PG_BIN_DIR" in message
    assert "\n" not in message


def test_configured_suite_wins_when_it_fits() -> None:
    chosen = choose_client(15, needs_ssl=False, configured_dir=bundled_bin_dir())
    assert (chosen.origin, chosen.major) == ("LUMIDB_PG_BIN_DIR", 18)


def test_missing_configured_dir_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="LUMIDB_PG_BIN_DIR") as caught:
        choose_client(18, needs_ssl=False, configured_dir=tmp_path / "nowhere")
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match=r"LUMIDB_PG_BIN_DIR=.* lacks pg_dump"):
        choose_client(18, needs_ssl=False, configured_dir=tmp_path)


def test_pg_dump_against_pg18(pg18: Pg18TestServer) -> None:
    target = _with_table(pg18, "pgtools_dump")
    suite = choose_client(pg18.major, needs_ssl=target.needs_ssl)
    result = _dump_schema(suite, target)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE public.pgtools_probe" in result.stdout
    assert pg18.password not in target.child_dsn()


@pytest.mark.pg15
def test_pg_dump_against_pg15_over_tls(pg15: Pg15TestServer) -> None:
    _with_table(pg15, "pgtools_dump")
    target = pg15.admin_target("pgtools_dump", sslmode="require")
    suite = choose_client(pg15.major, needs_ssl=target.needs_ssl)
    assert suite.bin_dir == DEBIAN_15
    result = _dump_schema(suite, target)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE public.pgtools_probe" in result.stdout
    in_tls = subprocess.run(
        [
            str(suite.program("psql")),
            f"--dbname={target.child_dsn()}",
            "-tAc",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
        env=target.child_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert in_tls.stdout.strip() == "t"


@pytest.mark.pg15
def test_bundled_pg_dump_really_lacks_ssl(pg15: Pg15TestServer) -> None:
    """The SSL verdict matches what the program does."""
    target = pg15.admin_target(sslmode="require")
    result = _dump_schema(_suite_in(bundled_bin_dir()), target)
    assert result.returncode != 0
    assert "SSL" in result.stderr
