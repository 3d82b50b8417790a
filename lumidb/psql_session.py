"""``lumidb psql``: an interactive psql on the target database, like ``rails dbconsole``.

The client programs are chosen as for a backup (``pgtools``: a psql that fits the
server's version and TLS needs); the password travels in the child's environment
(``PGPASSWORD``), never on its command line; the URL's schema becomes the search path.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from lumidb.connection import DatabaseTarget, connect, quote_ident


@dataclass(frozen=True)
class PsqlInvocation:
    """What ``open_psql`` runs: the program, its arguments (no password) and its environment."""

    argv: list[str]
    env: dict[str, str]


def psql_invocation(
    target: DatabaseTarget, *, pg_bin_dir: Path | None, extra_args: list[str]
) -> PsqlInvocation:
    """The psql command for ``target``; connects once to learn the server's version."""
    from lumidb import pgtools

    with connect(target, application_name="lumidb psql") as conn:
        suite = pgtools.client_for(conn, target, pg_bin_dir)
    env = target.child_env("lumidb psql")
    if target.schema != "public":
        env["PGOPTIONS"] = f"-c search_path={quote_ident(target.schema)}"
    argv = [str(suite.program("psql")), "--dbname", target.child_dsn(), *extra_args]
    return PsqlInvocation(argv=argv, env=env)


def open_psql(target: DatabaseTarget, *, pg_bin_dir: Path | None, extra_args: list[str]) -> int:
    """Run psql on ``target`` with this terminal; return psql's exit code."""
    invocation = psql_invocation(target, pg_bin_dir=pg_bin_dir, extra_args=extra_args)
    return subprocess.run(invocation.argv, env=invocation.env, check=False).returncode
