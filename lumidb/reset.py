"""``lumidb reset``: drop the application's schema objects, migrate from scratch, seed.

Development and test databases only, with no override: production by ``LUMIDB_ENV``,
``NODE_ENV`` or the database's own record is refused (exit 3), and so is a host that
is not local unless the caller says ``allow_remote``. The database itself is never
dropped (a role that owns it but cannot create databases can reset it), and neither is
the ``lumidb`` schema (the environment record).

Everything happens in ONE transaction on one connection: the drops (the same DROP
statements a restore uses), every migration (Alembic joins the open transaction), the
seed, and the grants other roles had. A failure anywhere, or a killed lumidb, rolls it
all back: the database is the old one or the new one, never in between.
"""

from __future__ import annotations

import ipaddress
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lumidb import catalog, guard
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import OperationError, RefusedError, UsageError
from lumidb.retention import SafetyRetention
from lumidb.seed import SeedResult

APPLICATION_NAME = "lumidb reset"
RECORD_SCHEMA = "lumidb"

Notify = Callable[[str], None]


@dataclass(frozen=True)
class ResetOptions:
    backup_dir: Path
    environment: Environment
    allow_remote: bool = False
    safety_backup: bool = True
    seed: bool = True
    terminate_connections: bool = False
    pg_bin_dir: Path | None = None
    lock_timeout: float = 30.0
    statement_lock_timeout: float = 10.0
    admin_email: str = "admin@lumiai.com"
    admin_password: str | None = field(default=None, repr=False)
    safety_retention: SafetyRetention | None = None


@dataclass(frozen=True)
class ResetPlan:
    """What a reset will drop, shown before the user confirms it."""

    database: str
    dbname: str
    host: str
    schema: str
    drops: list[str]
    row_counts: dict[str, int]
    sessions: list[str]
    safety_backup: bool
    seed: bool


@dataclass(frozen=True)
class ResetResult:
    database: str
    current: list[str]
    seed: SeedResult | None
    safety_backup: str | None
    undo_command: str | None
    terminated: list[str]
    duration_seconds: float


def is_local_host(host: str) -> bool:
    """A Unix socket, ``localhost``, 127.0.0.0/8 or ``::1``."""
    if not host or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _masked_host(host: str) -> str:
    """The host for the plan: local names as they are, others with their middle masked."""
    if is_local_host(host):
        return host or "local socket"
    if len(host) <= 4:
        return host[0] + "***"
    return host[:2] + "***" + host[-2:]


def _other_sessions(conn: Any) -> list[str]:
    from lumidb.locks import describe_session

    rows = conn.execute(
        """
        SELECT pid, coalesce(application_name, ''), coalesce(client_addr::text, 'local'),
               usename, state
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_type = 'client backend'
          AND coalesce(application_name, '') NOT LIKE 'lumidb%%'
        ORDER BY pid
        """
    ).fetchall()
    return [describe_session(pid, app, user, addr, state) for pid, app, addr, user, state in rows]


def plan_reset(target: DatabaseTarget, options: ResetOptions) -> ResetPlan:
    """Refuse what must not be reset, else say what the reset will drop."""
    from lumidb.restore import _clearing_statements

    if target.schema == RECORD_SCHEMA:
        raise UsageError(f"the {RECORD_SCHEMA} schema is lumidb's own and is never reset")
    if not is_local_host(target.host) and not options.allow_remote:
        raise RefusedError(
            f"{target.dbname} is on {_masked_host(target.host)}, which is not a local host",
            hint="a CI service host such as `postgres` is fine: pass --allow-remote",
        )
    with connect(target, application_name=APPLICATION_NAME) as conn:
        record = guard.environment_record(conn, options.environment)
        guard.refuse_on_production(
            record, "reset", hint="reset has no production form; nothing was changed"
        )
        drops = _clearing_statements(conn, target.schema)
        counts = catalog.row_counts(conn, target.schema)
        sessions = _other_sessions(conn)
    return ResetPlan(
        database=target.masked_url(),
        dbname=target.dbname,
        host=_masked_host(target.host),
        schema=target.schema,
        drops=drops,
        row_counts=counts,
        sessions=sessions,
        safety_backup=options.safety_backup,
        seed=options.seed,
    )


def reset(
    target: DatabaseTarget,
    plan: ResetPlan,
    options: ResetOptions,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> ResetResult:
    """Carry out ``plan`` under lumidb's lock: safety backup, then one transaction."""
    from lumidb.locks import database_lock
    from lumidb.restore import _terminate_sessions
    from lumidb.seed import load_catalogue

    say = notify or (lambda _message: None)
    started = time.monotonic()
    catalogue = load_catalogue() if options.seed else []
    with database_lock(target, "reset", timeout=options.lock_timeout):
        with connect(target, application_name=APPLICATION_NAME) as conn:
            record = guard.environment_record(conn, options.environment)
        guard.refuse_on_production(record, "reset", hint="reset has no production form")
        terminated = _terminate_sessions(target) if options.terminate_connections else []
        for line in terminated:
            say(f"ended session {line}")
        safety: str | None = None
        undo: str | None = None
        if options.safety_backup:
            safety = _safety_backup(target, options, now)
            undo = f"lumidb restore-latest --file {shlex.quote(safety)}"
            say(f"safety backup: {safety} (undo with: {undo})")
        try:
            current, seeded = _rebuild(target, options, now=now, catalogue=catalogue)
        except KeyboardInterrupt:
            raise OperationError(
                "interrupted: the reset was rolled back; the database is unchanged"
            ) from None
    return ResetResult(
        database=target.masked_url(),
        current=current,
        seed=seeded,
        safety_backup=safety,
        undo_command=undo,
        terminated=terminated,
        duration_seconds=round(time.monotonic() - started, 3),
    )


def _safety_backup(target: DatabaseTarget, options: ResetOptions, now: datetime) -> str:
    from lumidb.backup import BackupOptions, create_backup

    result = create_backup(
        target,
        BackupOptions(
            backup_dir=options.backup_dir,
            kind="safety",
            pg_bin_dir=options.pg_bin_dir,
            environment=options.environment.value,
            safety_retention=options.safety_retention,
        ),
    )
    return str(result.path)


def _rebuild(
    target: DatabaseTarget, options: ResetOptions, *, now: datetime, catalogue: list[Any]
) -> tuple[list[str], SeedResult | None]:
    """Drop, migrate, seed and grant in one transaction; roll back on any failure."""
    from alembic import command
    from sqlalchemy import text

    from lumidb import grants
    from lumidb.migrations import _sa_connection, alembic_config
    from lumidb.restore import _blocking_sessions, _clearing_statements
    from lumidb.seed import seed_connection

    with _sa_connection(target, "reset") as conn:
        raw = conn.connection.driver_connection
        try:
            timeout_ms = int(options.statement_lock_timeout * 1000)
            conn.execute(text(f"SET LOCAL lock_timeout = '{timeout_ms}ms'"))
            kept = grants.read_grants(raw, target.schema)
            for statement in _clearing_statements(raw, target.schema):
                conn.execute(text(statement))
            # The connection is inside a transaction now, so Alembic joins it instead of
            # committing each revision: the migrations roll back with everything else.
            command.upgrade(alembic_config(conn), "heads")
            seeded = None
            if options.seed:
                seeded = seed_connection(
                    raw,
                    database=target.masked_url(),
                    now=now,
                    admin_email=options.admin_email,
                    admin_password=options.admin_password,
                    refresh=False,
                    catalogue=catalogue,
                )
            reapply = grants.reapply_sql(kept)
            if reapply:
                conn.execute(text(reapply))
            current = list(_current_heads_in_transaction(conn))
            conn.commit()
        except Exception as exc:
            conn.rollback()
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            if "lock timeout" in cause:
                blocking = _blocking_sessions(target, target.schema)
                raise OperationError(
                    "other sessions hold the tables: " + "; ".join(blocking or ["(gone now)"]),
                    hint="close them, or pass --terminate-connections; nothing was changed",
                ) from None
            if isinstance(exc, UsageError | RefusedError):
                raise
            raise OperationError(
                f"the reset failed and was rolled back, the database is unchanged: {cause}"
            ) from None
    return current, seeded


def _current_heads_in_transaction(conn: Any) -> tuple[str, ...]:
    from sqlalchemy import text

    return tuple(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
