"""The environment record and the production guard.

A database remembers its environment in ``lumidb.environment``: a schema of lumidb's
own that backups leave out and restores never touch. So a restored production dump
does not make a development database production, and a production database stays
production whatever is restored into it or whatever the shell's ``NODE_ENV`` says.
``migrate deploy`` raises the record to production; nothing here lowers it.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

from lumidb.config import Environment
from lumidb.errors import RefusedError

RECORD_SCHEMA = "lumidb"


@dataclass(frozen=True)
class EnvironmentRecord:
    """What the database says it is, and what the shell says."""

    recorded: Environment | None
    shell: Environment

    @property
    def is_production(self) -> bool:
        return Environment.PRODUCTION in (self.recorded, self.shell)

    @property
    def label(self) -> str:
        return "PRODUCTION" if self.is_production else (self.recorded or self.shell).value


def read_environment(conn: Any) -> Environment | None:
    """The recorded environment, or None when lumidb never recorded one here."""
    exists = conn.execute("SELECT to_regclass('lumidb.environment') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT environment FROM lumidb.environment WHERE id = 1").fetchone()
    if row is None:
        return None
    try:
        return Environment(row[0])
    except ValueError:
        return Environment.PRODUCTION  # an unknown value is treated as the strictest


def environment_record(conn: Any, shell: Environment) -> EnvironmentRecord:
    return EnvironmentRecord(recorded=read_environment(conn), shell=shell)


def record_environment(
    conn: Any, environment: Environment
) -> tuple[Environment | None, Environment]:
    """Record ``environment``, never lowering production; return (before, after)."""
    before = read_environment(conn)
    after = environment
    if before is Environment.PRODUCTION:
        after = Environment.PRODUCTION
    conn.execute("CREATE SCHEMA IF NOT EXISTS lumidb")
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS lumidb.environment (
            id integer PRIMARY KEY CHECK (id = 1),
            environment text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            recorded_by text NOT NULL
        )
        """
    )
    if before != after or before is None:
        conn.execute(
            """
            INSERT INTO lumidb.environment (id, environment, recorded_by) VALUES (1, %s, %s)
            ON CONFLICT (id) DO UPDATE SET environment = EXCLUDED.environment,
                recorded_at = now(), recorded_by = EXCLUDED.recorded_by
            """,
            (after.value, f"{getpass.getuser()}@{socket.gethostname()}"),
        )
    return before, after


def refuse_on_production(record: EnvironmentRecord, action: str, *, hint: str) -> None:
    """For development-only commands: refuse outright on production (exit 3).

    ``hint`` says what to do instead; it differs per command (``migrate deploy`` for the
    development flow, nothing at all for ``reset``).
    """
    if record.is_production:
        where = (
            "the database is recorded as production"
            if record.recorded is Environment.PRODUCTION
            else "the environment says production"
        )
        raise RefusedError(
            f"{action} is for development and test databases only, and {where}", hint=hint
        )


class DriverSQL:
    """A SQLAlchemy connection seen as the psycopg-style ``execute(sql, params)`` the guard
    uses, so a command reads and records the environment on its one working session."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        if params is None:
            return self._conn.exec_driver_sql(sql)
        return self._conn.exec_driver_sql(sql, params)
