"""Migrations: one plain function per ``lumidb migrate`` command (Alembic's model).

The Alembic ``Config`` is built here in code; the connection is handed to
``schema/migrations/env.py``. Every function that changes the database holds lumidb's
advisory lock (``lumidb.locks``) while it does, so concurrent deploys serialise and
each revision is applied once.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb import catalog, guard
from lumidb.config import Environment
from lumidb.connection import (
    DatabaseTarget,
    connect,
    describe_connect_error,
    make_engine,
    quote_ident,
)
from lumidb.errors import LumidbError, OperationError, RefusedError, UsageError
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
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


_REVISION_LINE = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def known_revision_ids() -> frozenset[str]:
    """Every revision id in the migrations folder, read from the files without importing them.

    Building Alembic's ``ScriptDirectory`` imports every revision (~0.4 s); a restore only
    needs to know whether its backup's revision is one of ours.
    """
    ids = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        match = _REVISION_LINE.search(path.read_text(encoding="utf-8"))
        if match:
            ids.add(match.group(1))
    return frozenset(ids)


def _info(script: Script, *, applied: bool = False, heads: tuple[str, ...] = ()) -> RevisionInfo:
    return RevisionInfo(
        revision=script.revision,
        message=(script.doc or "").strip().splitlines()[0] if script.doc else "",
        file=Path(script.path).name,
        applied=applied,
        is_head=script.revision in heads,
    )


@contextmanager
def _sa_connection(target: DatabaseTarget, purpose: str) -> Iterator[Connection]:
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


def _current_heads(conn: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    conn.commit()
    return tuple(heads)


def _pending(script: ScriptDirectory, current: tuple[str, ...]) -> list[RevisionInfo]:
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
    return [_info(s, heads=heads) for s in revisions]


def _bookkeeping(conn: Connection, schema: str) -> tuple[bool, bool, bool]:
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


def _refuse_unadopted(conn: Connection, target: DatabaseTarget) -> None:
    has_alembic, has_prisma, has_tables = _bookkeeping(conn, target.schema)
    if has_alembic and _current_heads(conn):
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


def _drift(conn: Connection, target: DatabaseTarget) -> list[str]:
    """Differences between the models and the database (autogenerate, plus enum values)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from lumidb.schema.models import Base

    ctx = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": catalog.include_object,
            "target_metadata": Base.metadata,
        },
    )
    found = [_describe_diff(d) for d in compare_metadata(ctx, Base.metadata)]
    live_enums = catalog.snapshot(conn.connection.driver_connection, target.schema).enums
    for enum_type in _model_enums():
        live = live_enums.get(enum_type.name)
        if live is not None and live != list(enum_type.enums):
            found.append(
                f"enum type {enum_type.name} has values {live}, the models say {list(enum_type.enums)}"
            )
    conn.rollback()
    return found


def _model_enums() -> list[Any]:
    from sqlalchemy import Enum

    from lumidb.schema.models import Base

    seen: dict[str, Any] = {}
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, Enum) and column.type.name:
                seen[column.type.name] = column.type
    return list(seen.values())


def _describe_diff(diff: Any) -> str:
    if isinstance(diff, list):  # column-level changes come as a list of tuples
        return "; ".join(_describe_diff(d) for d in diff)
    kind = diff[0]
    if kind in {"add_table", "remove_table"}:
        return f"{kind.replace('_', ' ')} {diff[1].name}"
    if kind in {"add_index", "remove_index"}:
        return f"{kind.replace('_', ' ')} {diff[1].name} on {diff[1].table.name}"
    if kind in {"add_column", "remove_column"}:
        return f"{kind.replace('_', ' ')} {diff[2]}.{diff[3].name}"
    if kind.startswith("modify_"):
        return f"{kind.replace('_', ' ')} {diff[2]}.{diff[3]}: database {diff[5]!r}, models {diff[6]!r}"
    if kind in {"add_fk", "remove_fk", "add_constraint", "remove_constraint"}:
        return f"{kind.replace('_', ' ')} {diff[1].name}"
    return str(diff)


# --- commands -------------------------------------------------------------------


def status(target: DatabaseTarget) -> MigrationStatus:
    """Current revision, heads, pending revisions and drift; changes nothing."""
    script = script_directory()
    with _sa_connection(target, "migrate status") as conn:
        has_alembic, has_prisma, has_tables = _bookkeeping(conn, target.schema)
        current = _current_heads(conn) if has_alembic else ()
        unadopted = not current and (has_prisma or has_tables)
        pending = [] if unadopted else _pending(script, current)
        drift = _drift(conn, target) if not pending and not unadopted else []
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


def _upgrade(conn: Connection, target: DatabaseTarget) -> list[RevisionInfo]:
    """Apply pending revisions, one transaction each; name the revision that fails."""
    from alembic import command

    _ensure_schema(conn, target)
    script = script_directory()
    pending = _pending(script, _current_heads(conn))
    if not pending:
        return []
    applied: list[str] = []
    cfg = alembic_config(conn)
    cfg.attributes["on_version_apply"] = applied
    try:
        command.upgrade(cfg, "heads")
    except LumidbError:
        raise
    except Exception as exc:
        conn.rollback()
        done = set(_current_heads(conn))
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
    with _sa_connection(target, "migrate deploy") as conn:
        notices = []
        guarded = environment or Environment.PRODUCTION
        recovered = _recover_emptied_history(conn, target, guarded)
        if recovered is not None:
            notices.append(recovered)
        _refuse_unadopted(conn, target)
        applied = _upgrade(conn, target)
        current = _current_heads(conn)
        with connect(target, application_name="lumidb migrate deploy") as raw:
            if environment is None:
                before = after = guard.read_environment(raw)
            else:
                before, after = guard.record_environment(raw, environment)
    return DeployResult(
        database=target.masked_url(),
        applied=applied,
        current=list(current),
        environment_before=before.value if before else None,
        environment=after.value if after else "not recorded",
        notices=notices,
    )


def _recover_emptied_history(
    conn: Connection, target: DatabaseTarget, environment: Environment
) -> str | None:
    """An emptied ``alembic_version`` (a test helper's TRUNCATE of every table) over a schema
    that matches a known revision: record that revision again, outside production.

    Returns the notice to show, or None when there is nothing to recover (or the schema
    matches no revision: ``_refuse_unadopted`` then says so). On production, refuses.
    """
    from alembic import command

    has_alembic, _, has_tables = _bookkeeping(conn, target.schema)
    if not (has_alembic and has_tables) or _current_heads(conn):
        return None
    revision = matching_revision(conn, target)
    if revision is None:
        return None
    with connect(target, application_name="lumidb migrate deploy") as raw:
        record = guard.environment_record(raw, environment)
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


def matching_revision(conn: Connection, target: DatabaseTarget) -> str | None:
    """The newest known revision whose schema the live one equals exactly, or None."""
    live = catalog.snapshot(conn.connection.driver_connection, target.schema)
    conn.rollback()
    for revision, expected in reversed(revision_catalogs(conn)):
        if not catalog.differences(expected, live):
            return revision
    return None


def source_tree_writable() -> bool:
    """True when lumidb runs from a source tree (an editable install or a checkout)."""
    try:
        dist = metadata.distribution("lumidb")
    except metadata.PackageNotFoundError:
        return True
    direct = dist.read_text("direct_url.json")
    if direct:
        try:
            return bool(json.loads(direct).get("dir_info", {}).get("editable", False))
        except ValueError:
            return False
    return False


def _require_source_tree() -> None:
    if not source_tree_writable():
        raise UsageError(
            "this lumidb is installed as a package, so it cannot write new revisions",
            hint="generate revisions from a source checkout installed in editable mode (uv sync)",
        )


def _generate(conn: Connection, name: str, *, autogenerate: bool) -> NewRevision:
    from alembic import command
    from alembic.script import Script

    cfg = alembic_config(conn)
    made = command.revision(cfg, message=name, autogenerate=autogenerate)
    scripts = made if isinstance(made, list) else [made]
    script = scripts[0]
    if not isinstance(script, Script):
        raise OperationError("alembic wrote no revision")
    format_revision_file(Path(script.path))
    body = Path(script.path).read_text(encoding="utf-8")
    operations = [
        line.strip()
        for line in body.split("def upgrade", 1)[1].split("def downgrade", 1)[0].splitlines()
        if line.strip().startswith("op.")
    ]
    conn.commit()
    return NewRevision(
        revision=script.revision, message=name, path=script.path, operations=operations
    )


def needs_revision(target: DatabaseTarget) -> bool:
    """True when the models differ from the migrated database (after pending revisions)."""
    return bool(status(target).drift)


def develop(
    target: DatabaseTarget, *, name: str | None, lock_timeout: float, environment: Environment
) -> DevResult:
    """The development flow: apply pending revisions, then generate and apply one if the models changed.

    ``name`` is required when a revision is needed; the command layer asks for it (or
    refuses without a terminal) by calling ``develop`` with ``name=None`` first and
    catching ``NameNeeded``.
    """
    with (
        database_lock(target, "migrate", timeout=lock_timeout),
        _sa_connection(target, "migrate") as conn,
    ):
        with connect(target, application_name="lumidb migrate") as raw:
            record = guard.environment_record(raw, environment)
        guard.refuse_on_production(
            record,
            "the development flow (`lumidb migrate`)",
            hint="on production, apply revisions with `lumidb migrate deploy`",
        )
        recovered = _recover_emptied_history(conn, target, environment)
        _refuse_unadopted(conn, target)
        applied = _upgrade(conn, target)
        drift = _drift(conn, target)
        generated = None
        if drift:
            if name is None:
                raise NameNeeded(drift)
            _require_source_tree()
            generated = _generate(conn, name, autogenerate=True)
            applied += _upgrade(conn, target)
        current = _current_heads(conn)
    return DevResult(
        database=target.masked_url(),
        applied=applied,
        generated=generated,
        current=list(current),
        notices=[recovered] if recovered else [],
    )


class NameNeeded(RefusedError):
    """The models changed and a new revision needs a name."""

    def __init__(self, drift: list[str]) -> None:
        super().__init__(
            "the models differ from the database and a new revision needs a name",
            hint="run `lumidb migrate --name NAME` (no terminal to ask at)",
        )
        self.drift = drift


def new_revision(target: DatabaseTarget | None, name: str) -> NewRevision:
    """Write a revision (autogenerated against ``target`` when given, else empty)."""
    _require_source_tree()
    if target is None:
        return _generate_offline(name)
    with _sa_connection(target, "migrate new") as conn:
        script = script_directory()
        pending = _pending(script, _current_heads(conn))
        if pending:
            raise RefusedError(
                f"{len(pending)} revision(s) are not applied to {target.dbname} yet",
                hint="run `lumidb migrate` first, so the new revision compares against an up-to-date database",
            )
        if not _drift(conn, target):
            return NewRevision(revision="", message=name, path="", operations=[], written=False)
        return _generate(conn, name, autogenerate=True)


def _generate_offline(name: str) -> NewRevision:
    from alembic import command
    from alembic.script import Script

    made = command.revision(alembic_config(), message=name, autogenerate=False)
    script = made[0] if isinstance(made, list) else made
    if not isinstance(script, Script):
        raise OperationError("alembic wrote no revision")
    format_revision_file(Path(script.path))
    return NewRevision(revision=script.revision, message=name, path=script.path, operations=[])


def format_revision_file(path: Path) -> None:
    """Format a written revision as the project's CI checks it (``ruff format`` and the
    fixable ``ruff check`` rules, with the source tree's configuration).

    Alembic renders names with single quotes and leaves blank lines where the template
    had nothing to put; ruff (a development dependency, present wherever revisions can
    be written) turns that into code that passes ``ruff format --check`` as written.
    """
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        raise OperationError(
            f"wrote {path}, but ruff is not installed to format it",
            hint="run `uv sync` (ruff is a development dependency), then `ruff format` on it",
        )
    config = Path(__file__).parent.parent / "pyproject.toml"
    options = ["--config", str(config)] if config.is_file() else []
    for args in (["check", "--fix", "--quiet"], ["format", "--quiet"]):
        done = subprocess.run(
            [ruff, *args, *options, str(path)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            detail = (done.stdout + done.stderr).strip().splitlines()
            raise OperationError(
                f"wrote {path}, but `ruff {args[0]}` found a problem: "
                f"{detail[0] if detail else 'exit ' + str(done.returncode)}",
                hint="fix the revision by hand before committing it",
            )


def history(target: DatabaseTarget | None) -> HistoryResult:
    """Every revision, oldest first, marked applied when the database has it."""
    script = script_directory()
    current: tuple[str, ...] = ()
    if target is not None:
        with _sa_connection(target, "migrate history") as conn:
            has_alembic, _, _ = _bookkeeping(conn, target.schema)
            current = _current_heads(conn) if has_alembic else ()
    applied: set[str] = set()
    for head in current:
        applied.update(s.revision for s in script.iterate_revisions(head, "base"))
    heads = tuple(script.get_heads())
    revisions = [
        _info(s, applied=s.revision in applied, heads=heads) for s in script.walk_revisions()
    ]
    revisions.reverse()
    return HistoryResult(revisions=revisions, current=list(current))


def plan_down(
    target: DatabaseTarget, revision: str | None, *, environment: Environment
) -> DownPlan:
    """What ``migrate down`` would revert: one step by default, or down to ``revision``."""
    script = script_directory()
    with _sa_connection(target, "migrate down") as conn:
        current = _current_heads(conn)
        with connect(target, application_name="lumidb migrate down") as raw:
            record = guard.environment_record(raw, environment)
    guard.refuse_on_production(
        record, "migrate down", hint="on production, revert with a new revision instead"
    )
    if not current:
        raise UsageError(f"{target.dbname} has no applied revisions to revert")
    if revision is None:
        down_to = script.get_revision(current[0]).down_revision if len(current) == 1 else None
        if isinstance(down_to, tuple | list):
            raise UsageError(
                "the current revision merges branches; name the revision to go down to"
            )
        goal = down_to or "base"
    else:
        goal = revision
        try:
            if goal != "base":
                script.get_revision(goal)
        except Exception:
            raise UsageError(
                f"unknown revision {goal!r}", hint="see `lumidb migrate history`"
            ) from None
    heads = tuple(script.get_heads())
    revert = [
        _info(s, applied=True, heads=heads)
        for s in script.iterate_revisions(current, goal if goal != "base" else "base")
        if s.revision != goal
    ]
    if not revert:
        raise NothingToRevert(target.dbname, goal)
    return DownPlan(
        database=target.masked_url(),
        current=list(current),
        target=goal,
        revert=revert,
        production=record.is_production,
    )


class NothingToRevert(LumidbError):
    """``migrate down REV`` when the database is already at REV: nothing to do (exit 0)."""

    def __init__(self, dbname: str, revision: str) -> None:
        super().__init__(f"{dbname} is already at {revision}: nothing to revert")
        self.revision = revision


def down(target: DatabaseTarget, plan: DownPlan, *, lock_timeout: float) -> DownResult:
    """Revert exactly the planned revisions (each in its own transaction)."""
    from alembic import command

    with (
        database_lock(target, "migrate down", timeout=lock_timeout),
        _sa_connection(target, "migrate down") as conn,
    ):
        if list(_current_heads(conn)) != plan.current:
            raise RefusedError(
                "the database changed since the plan was made", hint="run the command again"
            )
        try:
            command.downgrade(alembic_config(conn), plan.target)
        except Exception as exc:
            conn.rollback()
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise OperationError(f"downgrade to {plan.target} failed: {cause}") from None
        conn.commit()
        current = _current_heads(conn)
    return DownResult(database=target.masked_url(), reverted=plan.revert, current=list(current))


def adopt(target: DatabaseTarget, *, lock_timeout: float) -> AdoptResult:
    """Take over a database that Prisma Migrate created: compare, then record revision 0001.

    The live schema is compared with what the first revision creates, built for the
    comparison in a throwaway schema inside a transaction that is rolled back. Any
    difference is reported and the database is left as it was.
    """
    from alembic import command

    with (
        database_lock(target, "migrate adopt", timeout=lock_timeout),
        _sa_connection(target, "migrate adopt") as conn,
    ):
        has_alembic, _, has_tables = _bookkeeping(conn, target.schema)
        if has_alembic and _current_heads(conn):
            return AdoptResult(
                database=target.masked_url(),
                adopted=False,
                already=True,
                revision=",".join(_current_heads(conn)),
            )
        if not has_tables:
            raise UsageError(
                f"{target.dbname} has no LumiAI tables to adopt",
                hint="for an empty database, run `lumidb migrate deploy`",
            )
        live = catalog.snapshot(conn.connection.driver_connection, target.schema)
        expected = first_revision_catalog(conn)
        found = catalog.differences(expected, live, reference=f"revision {FIRST_REVISION}")
        if found:
            return AdoptResult(
                database=target.masked_url(),
                adopted=False,
                already=False,
                revision=FIRST_REVISION,
                differences=found,
            )
        command.stamp(alembic_config(conn), FIRST_REVISION)
        conn.commit()
    return AdoptResult(
        database=target.masked_url(), adopted=True, already=False, revision=FIRST_REVISION
    )


def first_revision_catalog(conn: Connection) -> catalog.Catalog:
    """The catalog that revision 0001 creates, built in a throwaway schema and rolled back."""
    return revision_catalogs(conn, upto=FIRST_REVISION)[-1][1]


def revision_catalogs(
    conn: Connection, *, upto: str | None = None
) -> list[tuple[str, catalog.Catalog]]:
    """The catalog after each revision, oldest first (up to ``upto``), built by applying them
    in a throwaway schema inside a transaction that is rolled back."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    scratch = "lumidb_adopt_check"
    scripts = list(script_directory().walk_revisions("base", "heads"))
    scripts.reverse()
    found: list[tuple[str, catalog.Catalog]] = []
    conn.rollback()
    transaction = conn.begin()
    try:
        conn.execute(text(f"CREATE SCHEMA {scratch}"))
        conn.execute(text(f"SET LOCAL search_path TO {scratch}"))
        with Operations.context(MigrationContext.configure(conn)):
            for script in scripts:
                script.module.upgrade()
                found.append(
                    (script.revision, catalog.snapshot(conn.connection.driver_connection, scratch))
                )
                if script.revision == upto:
                    break
        return found
    finally:
        transaction.rollback()
