"""Applying the schema's revisions (Alembic): status, deploy, history, and what ``migrate`` returns.

The Alembic ``Config`` is built here in code; the connection is handed to
``schema/migrations/env.py``. Every command that changes the database holds lumidb's
advisory lock (``lumidb.locks``) while it does, so concurrent deploys serialise and
each revision is applied once. The rest of ``lumidb migrate`` builds on this module:
``migration_dev`` (the development flow and new revisions), ``migration_down``
(reverting), ``adopt`` (taking over a Prisma database); ``schema_drift`` compares schemas.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb import guard, schema_drift
from lumidb.config import Environment
from lumidb.connection import (
    DatabaseTarget,
    describe_connect_error,
    make_engine,
    quote_ident,
)
from lumidb.errors import LumidbError, OperationError, RefusedError
from lumidb.locks import database_lock
from lumidb.outcome import Outcome

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).parent / "schema" / "migrations"
FIRST_REVISION = "0001"
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    message: str
    file: str
    applied: bool = False
    is_head: bool = False


@dataclass(frozen=True)
class MigrationStatus(Outcome):
    database: str
    current: list[str]
    heads: list[str]
    pending: list[RevisionInfo]
    drift: list[str]
    unadopted: bool = False
    checked: bool = False  # `status --check`: a database not up to date fails (exit 1)

    @property
    def up_to_date(self) -> bool:
        return not (self.pending or self.drift or self.unadopted)

    @property
    def failure(self) -> OperationError | None:
        if not self.checked or self.up_to_date:
            return None
        if self.unadopted:
            return OperationError("not up to date: not adopted", hint="run lumidb migrate adopt")
        if self.pending:
            return OperationError(
                f"not up to date: {len(self.pending)} revision(s) pending",
                hint="run lumidb migrate deploy",
            )
        return OperationError("not up to date: the models and the database differ")


@dataclass(frozen=True)
class DeployResult:
    database: str
    applied: list[RevisionInfo]
    current: list[str]
    environment_before: str | None
    environment: str
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewRevision:
    revision: str
    message: str
    path: str
    operations: list[str]
    written: bool = True  # False: the models match the database, nothing was written


@dataclass(frozen=True)
class DevResult:
    database: str
    applied: list[RevisionInfo]
    generated: NewRevision | None
    current: list[str]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryResult:
    revisions: list[RevisionInfo]
    current: list[str]


@dataclass(frozen=True)
class DownPlan:
    database: str
    current: list[str]
    target: str
    revert: list[RevisionInfo]
    production: bool


@dataclass(frozen=True)
class DownResult:
    database: str
    reverted: list[RevisionInfo]
    current: list[str]


@dataclass(frozen=True)
class AdoptResult(Outcome):
    database: str
    adopted: bool
    already: bool
    revision: str
    differences: list[str] = field(default_factory=list)

    @property
    def failure(self) -> RefusedError | None:
        if not self.differences:
            return None
        return RefusedError(
            f"the schema differs from revision {self.revision} in {len(self.differences)} "
            "place(s); nothing was recorded",
            hint="make the database match docs/SCHEMA.md, then run adopt again",
        )


# --- Alembic plumbing ------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code: no alembic.ini, no second URL."""
    from argparse import Namespace

    from alembic.config import Config

    # quiet: Alembic would print "Generating ..." on stdout, which belongs to lumidb's output.
    cfg = Config(stdout=io.StringIO(), cmd_opts=Namespace(quiet=True))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    cfg.set_main_option("truncate_slug_length", "40")
    cfg.set_main_option("timezone", "UTC")
    cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    """Alembic's view of the revision files (imports every revision)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def revision_info(
    script: Script, *, applied: bool = False, heads: tuple[str, ...] = ()
) -> RevisionInfo:
    """What lumidb shows of one revision: its id, the first line of its docstring, its file."""
    return RevisionInfo(
        revision=script.revision,
        message=(script.doc or "").strip().splitlines()[0] if script.doc else "",
        file=Path(script.path).name,
        applied=applied,
        is_head=script.revision in heads,
    )


@contextmanager
def sa_connection(target: DatabaseTarget, purpose: str) -> Iterator[Connection]:
    """A SQLAlchemy connection for Alembic; a failed connect becomes lumidb's one-line error."""
    from sqlalchemy.exc import OperationalError

    engine = make_engine(target, application_name=f"lumidb {purpose}")
    try:
        try:
            conn = engine.connect()
        except OperationalError as exc:
            raise describe_connect_error(target, exc.orig or exc) from None
        with conn:
            yield conn
    finally:
        engine.dispose()


def current_heads(conn: Connection) -> tuple[str, ...]:
    """The revisions recorded in ``alembic_version`` (empty: none)."""
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    conn.commit()
    return tuple(heads)


def pending_revisions(script: ScriptDirectory, current: tuple[str, ...]) -> list[RevisionInfo]:
    """The revisions after ``current`` up to the heads, oldest first."""
    heads = tuple(script.get_heads())
    lower: Any = current if current else "base"
    try:
        revisions = list(script.iterate_revisions("heads", lower))
    except Exception as exc:
        raise OperationError(
            f"the database is at revision {', '.join(current)}, which this lumidb does not know ({exc})",
            hint="upgrade lumidb, or check out the code that made that revision",
        ) from None
    revisions.reverse()
    return [revision_info(s, heads=heads) for s in revisions]


def bookkeeping(conn: Connection, schema: str) -> tuple[bool, bool, bool]:
    """(has alembic history, has Prisma history, has application tables) in ``schema``."""
    from sqlalchemy import text

    row = conn.execute(
        text(
            """
            SELECT
              EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = :s AND tablename = 'alembic_version'),
              EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = :s AND tablename = '_prisma_migrations'),
              EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = :s AND tablename = 'users')
            """
        ),
        {"s": schema},
    ).one()
    conn.commit()
    return bool(row[0]), bool(row[1]), bool(row[2])


def refuse_unadopted(conn: Connection, target: DatabaseTarget) -> None:
    """Refuse (exit 3) a database with tables but no lumidb history: it needs ``adopt`` first."""
    has_alembic, has_prisma, has_tables = bookkeeping(conn, target.schema)
    if has_alembic and current_heads(conn):
        return
    if has_alembic and has_tables:
        raise RefusedError(
            f"{target.dbname}'s alembic_version table is empty but its tables exist "
            "(emptied by a TRUNCATE of every table?) and its schema matches no revision "
            "lumidb knows",
            hint="see `lumidb migrate status`; make the schema match, then `lumidb migrate adopt`",
        )
    if has_prisma or has_tables:
        origin = "Prisma Migrate" if has_prisma else "another tool"
        raise RefusedError(
            f"{target.dbname} was created by {origin} and has no lumidb migration history",
            hint="run `lumidb migrate adopt` first; lumidb never re-creates tables that exist",
        )


# --- commands -------------------------------------------------------------------


def status(target: DatabaseTarget) -> MigrationStatus:
    """Current revision, heads, pending revisions and drift; changes nothing."""
    script = script_directory()
    with sa_connection(target, "migrate status") as conn:
        has_alembic, has_prisma, has_tables = bookkeeping(conn, target.schema)
        current = current_heads(conn) if has_alembic else ()
        unadopted = not current and (has_prisma or has_tables)
        pending = [] if unadopted else pending_revisions(script, current)
        drift = schema_drift.drift(conn, target.schema) if not pending and not unadopted else []
    return MigrationStatus(
        database=target.masked_url(),
        current=list(current),
        heads=list(script.get_heads()),
        pending=pending,
        drift=drift,
        unadopted=unadopted,
    )


def _ensure_schema(conn: Connection, target: DatabaseTarget) -> None:
    """Create the URL's ``schema=`` when it is missing, as Prisma does."""
    from sqlalchemy import text

    if target.schema != "public":
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(target.schema)}"))
        conn.commit()


def upgrade(conn: Connection, target: DatabaseTarget) -> list[RevisionInfo]:
    """Apply pending revisions, one transaction each; name the revision that fails."""
    from alembic import command

    _ensure_schema(conn, target)
    script = script_directory()
    pending = pending_revisions(script, current_heads(conn))
    if not pending:
        return []
    try:
        command.upgrade(alembic_config(conn), "heads")
    except LumidbError:
        raise
    except Exception as exc:
        conn.rollback()
        done = set(current_heads(conn))
        failed = next((p for p in pending if p.revision not in done), pending[0])
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise OperationError(
            f"revision {failed.revision} ({failed.message or failed.file}) failed: {cause}",
            hint=f"it was rolled back; the database stays at {', '.join(sorted(done)) or 'base'}",
        ) from None
    conn.commit()
    return [replace(p, applied=True) for p in pending]


def upgrade_within(conn: Connection) -> None:
    """Apply every pending revision inside the caller's open transaction, committing nothing.

    For ``reset``: Alembic sees the connection already in a transaction and runs each
    revision inside it, so a failing revision rolls back with everything else.
    """
    from alembic import command

    command.upgrade(alembic_config(conn), "heads")


def deploy(
    target: DatabaseTarget, *, environment: Environment | None, lock_timeout: float
) -> DeployResult:
    """Apply pending revisions only (CI and production); never generates, never prompts.

    ``environment`` is what the database is recorded as (raised, never lowered); None
    for an environment lumidb does not know (``NODE_ENV=staging``): guarded like
    production here, and the record is left as it is.
    """
    with database_lock(target, "migrate deploy", timeout=lock_timeout):
        return deploy_locked(target, environment=environment)


def deploy_locked(target: DatabaseTarget, *, environment: Environment | None) -> DeployResult:
    """``deploy`` for a caller that already holds lumidb's lock (``setup``)."""
    with sa_connection(target, "migrate deploy") as conn:
        notices = []
        guarded = environment or Environment.PRODUCTION
        recovered = recover_emptied_history(conn, target, guarded)
        if recovered is not None:
            notices.append(recovered)
        refuse_unadopted(conn, target)
        applied = upgrade(conn, target)
        current = current_heads(conn)
        on_session = guard.DriverSQL(conn)  # the environment record on the same session
        if environment is None:
            before = after = guard.read_environment(on_session)
        else:
            before, after = guard.record_environment(on_session, environment)
        conn.commit()
    return DeployResult(
        database=target.masked_url(),
        applied=applied,
        current=list(current),
        environment_before=before.value if before else None,
        environment=after.value if after else "not recorded",
        notices=notices,
    )


def recover_emptied_history(
    conn: Connection, target: DatabaseTarget, environment: Environment
) -> str | None:
    """An emptied ``alembic_version`` (a test helper's TRUNCATE of every table) over a schema
    that matches a known revision: record that revision again, outside production.

    Returns the notice to show, or None when there is nothing to recover (or the schema
    matches no revision: ``refuse_unadopted`` then says so). On production, refuses.
    """
    from alembic import command

    has_alembic, _, has_tables = bookkeeping(conn, target.schema)
    if not (has_alembic and has_tables) or current_heads(conn):
        return None
    revision = schema_drift.matching_revision(conn, target.schema, script_directory())
    if revision is None:
        return None
    record = guard.environment_record(guard.DriverSQL(conn), environment)
    if record.is_production:
        raise RefusedError(
            f"{target.dbname}'s alembic_version table is empty (emptied by a TRUNCATE?) and its "
            f"schema matches revision {revision}; on production lumidb does not record it by itself",
            hint="check the schema, then run `lumidb migrate adopt` to record it",
        )
    command.stamp(alembic_config(conn), revision)
    conn.commit()
    return (
        f"alembic_version was empty (emptied by a TRUNCATE of every table?); the schema matches "
        f"revision {revision}, recorded again"
    )


def history(target: DatabaseTarget) -> HistoryResult:
    """Every revision, oldest first, marked applied when the database has it."""
    script = script_directory()
    with sa_connection(target, "migrate history") as conn:
        has_alembic, _, _ = bookkeeping(conn, target.schema)
        current = current_heads(conn) if has_alembic else ()
    applied: set[str] = set()
    for head in current:
        applied.update(s.revision for s in script.iterate_revisions(head, "base"))
    heads = tuple(script.get_heads())
    revisions = [
        revision_info(s, applied=s.revision in applied, heads=heads)
        for s in script.walk_revisions()
    ]
    revisions.reverse()
    return HistoryResult(revisions=revisions, current=list(current))
