"""``reset``: a development or test database rebuilt from its migrations, in one transaction.

Everything of the application's schema goes (tables, enum types, ``alembic_version``),
every revision runs again, and the seed follows (unless ``seed`` is off); other roles'
privileges are given back. All of it is one transaction: a failing revision or seed, a
lost connection or a killed lumidb leaves the database as it was. The ``lumidb``
schema (the environment record) is kept.

There is no override for production: the shell (``LUMIDB_ENV``, ``NODE_ENV``) or the
database's record saying production refuses (exit 3), and a server that is not on this
machine needs ``allow_remote``. A safety backup is taken first unless declined.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb import guard
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import OperationError, RefusedError, UsageError
from lumidb.retention import SafetyRetention
from lumidb.seed import (
    SeedOptions,
    SeedResult,
    require_migrated,
    seed_into,
    validate_seed_input,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from lumidb.backup import SafetyBackup

APPLICATION_NAME = "lumidb reset"
Notify = Callable[[str], None]


@dataclass(frozen=True)
class ResetOptions:
    """What ``reset`` was asked to do, and the settings it needs."""

    backup_dir: Path | str  # a folder or an s3:// URL
    seed: bool = True
    safety_backup: bool = True
    allow_remote: bool = False
    terminate_connections: bool = False
    environment: Environment = Environment.DEVELOPMENT
    lock_timeout: float = 30.0
    statement_lock_timeout: float = 10.0
    pg_bin_dir: Path | None = None
    seed_options: SeedOptions = field(default_factory=SeedOptions)
    safety_retention: SafetyRetention = field(default_factory=SafetyRetention)


@dataclass(frozen=True)
class ResetPlan:
    """What a reset will drop and rebuild, shown before the user confirms it."""

    target: str
    database: str
    host: str
    schema: str
    environment: str
    drops: list[str]
    row_counts: dict[str, int]
    sessions: list[str]
    seed: bool
    safety_backup: bool


@dataclass(frozen=True)
class ResetResult:
    """A finished reset; ``undo_command`` brings back what was there before."""

    database: str
    revision: str
    dropped: int
    safety_backup: str | None
    undo_command: str | None
    seeded: SeedResult | None
    terminated: list[str]
    duration_seconds: float


def is_local(host: str) -> bool:
    """A Unix socket, ``localhost``, 127.0.0.0/8 or ``::1``: a server on this machine."""
    if host.startswith("/") or host.lower() == "localhost" or host == "":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse(options: ResetOptions, conn: Any) -> guard.EnvironmentRecord:
    record = guard.environment_record(conn, options.environment)
    guard.refuse_on_production(
        record,
        "reset",
        hint="there is no override; reset a development or test database instead",
    )
    return record


def plan_reset(target: DatabaseTarget, options: ResetOptions) -> ResetPlan:
    """Check the guards and say what a reset will drop; changes nothing."""
    from lumidb import catalog
    from lumidb.guard import RECORD_SCHEMA
    from lumidb.schema_contents import clearing_statements, other_sessions

    if target.schema == RECORD_SCHEMA:
        raise UsageError(f"the {RECORD_SCHEMA} schema is lumidb's own and is never reset")
    if options.seed:
        validate_seed_input(options.seed_options)
    hostaddr = dict(target.params).get("hostaddr", "")
    remote = [h for h in [target.host, *hostaddr.split(",")] if h and not is_local(h)]
    if remote and not options.allow_remote:
        raise RefusedError(
            f"reset drops every table, and {remote[0]} is not this machine",
            hint="pass --allow-remote for a disposable server (a CI service such as `postgres`)",
        )
    with connect(target, application_name=APPLICATION_NAME) as conn:
        record = _refuse(options, conn)
        drops = clearing_statements(conn, target.schema)
        counts = catalog.row_counts(conn, target.schema)
        sessions = [described for _pid, described in other_sessions(conn)]
    return ResetPlan(
        target=target.masked_url(),
        database=target.dbname,
        host=target.where,
        schema=target.schema,
        environment=record.label,
        drops=[
            statement.removesuffix(" CASCADE;").removeprefix("DROP ").replace(" IF EXISTS", "")
            for statement in drops
        ],
        row_counts=counts,
        sessions=sessions,
        seed=options.seed,
        safety_backup=options.safety_backup,
    )


def reset(
    target: DatabaseTarget,
    plan: ResetPlan,
    options: ResetOptions,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> ResetResult:
    """Carry out a reset under lumidb's lock: safety backup, then one transaction."""
    from lumidb.locks import database_lock
    from lumidb.migrations import sa_connection
    from lumidb.schema_contents import terminate_sessions

    say = notify or (lambda _message: None)
    started = time.monotonic()
    with (
        database_lock(target, "reset", timeout=options.lock_timeout),
        sa_connection(target, "reset") as conn,  # Alembic's session, the only working one
    ):
        raw: Any = conn.connection.driver_connection  # the psycopg connection itself
        _refuse(options, raw)  # the record may have changed since the plan
        terminated = terminate_sessions(raw, "reset") if options.terminate_connections else []
        raw.rollback()  # idle again: the safety backup reads on this session
        for line in terminated:
            say(f"ended session {line}")
        safety: str | None = None
        undo: str | None = None
        if options.safety_backup:
            taken = _safety_backup(target, options, now, raw)
            safety, undo = taken.path, taken.undo_command
            say(f"safety backup: {safety} (undo with: {undo})")
        dropped, revision, seeded = _rebuild(conn, target, options, now)
    return ResetResult(
        database=target.dbname,
        revision=revision,
        dropped=dropped,
        safety_backup=safety,
        undo_command=undo,
        seeded=seeded,
        terminated=terminated,
        duration_seconds=round(time.monotonic() - started, 3),
    )


def _safety_backup(
    target: DatabaseTarget, options: ResetOptions, now: datetime, conn: Any
) -> SafetyBackup:
    from lumidb.backup import take_safety_backup

    return take_safety_backup(
        target,
        backup_dir=options.backup_dir,
        pg_bin_dir=options.pg_bin_dir,
        environment=options.environment.value,
        retention=options.safety_retention,
        now=now,
        conn=conn,
    )


def _rebuild(
    conn: Connection, target: DatabaseTarget, options: ResetOptions, now: datetime
) -> tuple[int, str, SeedResult | None]:
    """Drop, migrate, seed and re-grant in one transaction; commit only at the end."""
    import psycopg
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from lumidb.grants import read_grants, reapply_sql
    from lumidb.migrations import upgrade_within
    from lumidb.restore_checks import check_sql, read_untouchable
    from lumidb.schema_contents import clearing_statements, lock_wait_error

    raw: Any = conn.connection.driver_connection  # the psycopg connection itself
    try:
        conn.execute(text(f"SET LOCAL lock_timeout = {int(options.statement_lock_timeout * 1000)}"))
        conn.execute(text("SET LOCAL client_min_messages = warning"))
        grants = read_grants(raw, target.schema)
        untouchable = read_untouchable(raw, target.schema)
        drops = clearing_statements(raw, target.schema)
        for statement in drops:
            raw.execute(statement)  # psycopg itself: no placeholders in names
        upgrade_within(conn)
        seeded = None
        if options.seed:
            require_migrated(raw, target.schema)
            seeded = seed_into(raw, target, options.seed_options, now=now)
        regrant = reapply_sql(grants)
        if regrant:
            raw.execute(regrant)
        # DROP ... CASCADE reaches views or keys in other schemas: never silently
        raw.execute(check_sql(untouchable, target.schema, None))
        revision = ",".join(
            str(r[0])
            for r in raw.execute(
                f"SELECT version_num FROM {_alembic_table(target.schema)}"
            ).fetchall()
        )
        conn.commit()
    except (DBAPIError, psycopg.Error) as exc:
        conn.rollback()
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        cause = orig if orig is not None else exc
        if isinstance(cause, psycopg.errors.LockNotAvailable):
            raise lock_wait_error(
                raw, target.schema, who="reset", waited=options.statement_lock_timeout
            ) from None
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else repr(cause)
        raise OperationError(
            f"reset failed and was rolled back; nothing changed: {target.scrub(first)}"
        ) from None
    except BaseException:
        conn.rollback()
        raise
    return len(drops), revision, seeded


def _alembic_table(schema: str) -> str:
    from lumidb.connection import quote_ident

    return f"{quote_ident(schema)}.alembic_version"
