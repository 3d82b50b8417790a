"""A staged restore: load beside the live schema over parallel sessions, then swap in one short transaction.

The backup (through ``stage_filter.StagingFilter``: the allowlist, then names moved to
``lumidb_stage_<hex>``) is loaded by ``workers`` sessions of lumidb's own, each phase in
one transaction per session that checks, before its COMMIT, that no other schema (the
live one included) and not the environment record changed:

1. the staging schema (owner, privileges and comment of the live one) and everything
   before the data, in one session;
2. the COPY blocks, a large table's rows spread over every session;
3. primary keys, unique constraints and indexes, each table's in one session;
4. the rest in pg_dump's order, in one session (foreign keys added ``NOT VALID``);
5. the foreign keys validated, each table's in one session.

The application keeps reading and writing the live schema meanwhile. Then one
transaction on the caller's session: the row counts against the manifest and the other
schemas' fingerprint, a bounded wait for ``ACCESS EXCLUSIVE`` on the live tables (so no
transaction spans old and new), the two ``ALTER SCHEMA ... RENAME``, the other roles'
grants given back, the old schema dropped, the checks again, COMMIT. Until that COMMIT
the live schema is untouched: a failure, Ctrl-C or kill leaves at most a staging schema,
which the next restore drops (``stage_sessions.drop_leftovers``) under the database
lock. The sessions themselves are ``stage_sessions.StageSession``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from lumidb.connection import DatabaseTarget, quote_ident
from lumidb.errors import OperationError
from lumidb.interrupts import Terminated, interrupts_recorded
from lumidb.restore_checks import bare_table, check_sql, literal, read_untouchable
from lumidb.schema_contents import lock_wait_error
from lumidb.stage_filter import (
    PREV_PREFIX,
    STAGE_PREFIX,
    CopyData,
    CopyEnd,
    CopyStart,
    Event,
    Sql,
    StagingFilter,
)
from lumidb.stage_sessions import StageSession, drop_schema, failure_message

if TYPE_CHECKING:
    from lumidb.load import TargetFacts

CHUNK = 1 << 20
SPLIT_AT = 8 << 20  # a COPY block larger than this is spread over every session
WORKERS = 2  # sessions of a staged load (this machine has 2 cores)
SMALL_LOAD = 16 << 20  # less COPY data than this: keys, indexes and the rest in one step
RESTORE_LOCK_SETTING = "LUMIDB_RESTORE_LOCK_TIMEOUT"
_CHECK_PATH = "SET LOCAL search_path = pg_catalog, pg_temp"
_SETVAL = b"SELECT pg_catalog.setval("

_INDEX_RE = re.compile(rb"CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?(\S+) ")
_KEY_RE = re.compile(
    rb"ALTER TABLE ONLY (\S+)\s+ADD CONSTRAINT \S+ (?:PRIMARY KEY|UNIQUE|EXCLUDE|CHECK)\b"
)
_FOREIGN_RE = re.compile(
    rb'ALTER TABLE ONLY (\S+)\s+ADD CONSTRAINT ("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*) FOREIGN KEY '
)


@dataclass(frozen=True)
class StageOutcome:
    """What a staged load did: rows per ``schema.table``, and notes."""

    rows: dict[str, int]
    notes: list[str] = field(default_factory=list)


class StagedLoad:
    """One staged load of a SQL stream into ``stage`` beside ``schema``; ``run`` does it all."""

    def __init__(
        self,
        target: DatabaseTarget,
        conn: Any,
        dump_filter: StagingFilter,
        *,
        workers: int,
        lock_timeout: float,
        application_name: str,
    ) -> None:
        self.target = target
        self.conn = conn
        self.schema = target.schema
        self.filter = dump_filter
        self.stage = dump_filter.stage_schema
        # Read as the checks run: names deparsed with the search_path the checks set.
        with conn.transaction():
            conn.execute(_CHECK_PATH)
            self.untouchable_live = read_untouchable(conn, self.schema)
            self.untouchable_stage = read_untouchable(conn, self.stage)
        self.count = max(1, workers)
        self.lock_timeout = lock_timeout
        self.application_name = application_name
        self.workers: list[StageSession] = []
        self.settings: list[bytes] = []
        self.post: list[bytes] = []
        self.weights: dict[str, int] = {}
        self.phase = "pre"
        self._copy_on: list[StageSession] = []
        self._carry = b""
        self._block = 0
        self._split = False
        self._table = ""
        self._copy_sql = ""
        self._open: set[int] = set()  # the sessions in a transaction now

    # --- the phases ---

    def _begin(self, worker: StageSession) -> None:
        self._open.add(id(worker))
        worker.execute(
            b"BEGIN; SET client_min_messages = warning; "
            + f"SET lock_timeout = {int(self.lock_timeout * 1000)}; ".encode()
            + b" ".join(self.settings)
        )

    def _ensure(self, worker: StageSession) -> None:
        """A transaction open on ``worker`` (sessions idle in a phase open none)."""
        if id(worker) not in self._open:
            self._begin(worker)

    def _commit(self, workers: Iterable[StageSession]) -> None:
        """Check and commit each session's transaction; raises the first failure."""
        check = (_CHECK_PATH + ";\n" + check_sql(self.untouchable_stage, self.stage, None)).encode()
        chosen = [worker for worker in workers if id(worker) in self._open]
        self._open -= {id(worker) for worker in chosen}
        for worker in chosen:
            worker.execute(check + b"COMMIT;")
        for worker in chosen:
            worker.wait()

    def _create_stage(self, first: StageSession) -> None:
        row = self.conn.execute(
            """
            SELECT pg_get_userbyid(n.nspowner), obj_description(n.oid, 'pg_namespace'),
                   (SELECT array_agg(format('GRANT %%s ON SCHEMA %%s TO %%s%%s', a.privilege_type,
                           %s::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                           ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
                    FROM aclexplode(n.nspacl) a WHERE a.grantee <> n.nspowner)
            FROM pg_namespace n WHERE n.nspname = %s
            """,
            (quote_ident(self.stage), self.schema),
        ).fetchone()
        owner, comment, grants = row if row else (None, None, None)
        lines = [f"CREATE SCHEMA {quote_ident(self.stage)};"]
        if owner:
            lines.append(f"ALTER SCHEMA {quote_ident(self.stage)} OWNER TO {quote_ident(owner)};")
        lines += [f"{g};" for g in grants or []]
        if comment is not None:
            lines.append(f"COMMENT ON SCHEMA {quote_ident(self.stage)} IS {literal(comment)};")
        self._begin(first)
        first.execute("\n".join(lines))

    def run(self, source: IO[bytes]) -> StageOutcome:
        """Load ``source`` into the staging schema (committed, invisible to the application)."""
        for _ in range(self.count):
            self.workers.append(StageSession(self.target, self.application_name))
        self._create_stage(self.workers[0])
        pending: list[bytes] = []
        while chunk := source.read(CHUNK):
            self.filter.feed(chunk)
            self._events(self.filter.take(), pending)
        self.filter.finish()
        self._events(self.filter.take(), pending)
        self._flush(pending)
        return StageOutcome(rows=dict(self.filter.rows), notes=list(self.filter.notes))

    def _flush(self, pending: list[bytes]) -> None:
        if pending:
            self.workers[0].execute(b"\n".join(pending))
            pending.clear()

    def _events(self, events: list[Event], pending: list[bytes]) -> None:
        for event in events:
            if isinstance(event, Sql):
                if event.setting:
                    self.settings.append(event.text)
                if self.phase == "pre":
                    pending.append(event.text)
                    if len(pending) >= 64:
                        self._flush(pending)
                elif not event.setting:
                    self.post.append(event.text)
            elif isinstance(event, CopyStart):
                if self.phase == "pre":
                    self._flush(pending)
                    self._commit(self.workers[:1])
                    self.phase = "data"
                elif any(not text.startswith(_SETVAL) for text in self.post):
                    self._between_copies()
                self._start_copy(event)
            elif isinstance(event, CopyData):
                self._copy_data(event.data)
            elif isinstance(event, CopyEnd):
                self._end_copy()
        for worker in self.workers:
            if worker.error is not None:
                worker.wait()

    def _between_copies(self) -> None:
        """Statements between two COPY blocks (pg_dump writes none but ``setval``): run them
        in order, visible to every session, before the next block."""
        self._commit(self.workers)
        first = self.workers[0]
        self._begin(first)
        first.execute(b"\n".join(self.post))
        self.post = []
        self._commit([first])

    def _start_copy(self, event: CopyStart) -> None:
        primary = min(self.workers, key=lambda w: w.loaded)
        self._ensure(primary)
        primary.begin_copy(event.sql)
        self._copy_on = [primary]
        self._carry = b""
        self._block = 0
        self._split = False
        self._table = event.table
        self._copy_sql = event.sql

    def _copy_data(self, data: bytes) -> None:
        self._block += len(data)
        self.weights[self._table] = self.weights.get(self._table, 0) + len(data)
        primary = self._copy_on[0]
        if not self._split:
            if self._block <= SPLIT_AT or len(self.workers) == 1:
                primary.write(data)
                return
            cut = data.rfind(b"\n") + 1
            primary.write(data[:cut])
            self._carry = data[cut:]
            self._split = True
            for worker in self.workers:
                if worker is not primary:
                    self._ensure(worker)
                    worker.begin_copy(self._copy_sql)
                    self._copy_on.append(worker)
            return
        data = self._carry + data if self._carry else data
        cut = data.rfind(b"\n") + 1
        self._carry = data[cut:]
        if cut:
            least = min(self._copy_on, key=lambda w: w.jobs.qsize())
            least.write(data[:cut] if cut < len(data) else data)

    def _end_copy(self) -> None:
        if self._carry:
            self._copy_on[0].write(self._carry)
            self._carry = b""
        for worker in self._copy_on:
            worker.end_copy()
        self._copy_on = []

    # --- after the data ---

    def finish(self) -> None:
        """Commit the data, then build keys, indexes, the rest and the foreign keys."""
        self._commit(self.workers)
        if sum(self.weights.values()) < SMALL_LOAD:
            self._serial(self.post)  # one step: a small load gains nothing from more
            return
        keys: dict[str, list[bytes]] = {}
        validate: dict[str, list[bytes]] = {}
        serial: list[bytes] = []
        for text in self.post:
            found = _INDEX_RE.match(text) or _KEY_RE.match(text)
            if found:
                keys.setdefault(_bare(found.group(1)), []).append(text)
                continue
            foreign = _FOREIGN_RE.match(text)
            body = text.rstrip().rstrip(b";").rstrip()
            if foreign and not body.endswith(b"NOT VALID"):
                serial.append(body + b" NOT VALID;")
                validate.setdefault(_bare(foreign.group(1)), []).append(
                    b"ALTER TABLE "
                    + foreign.group(1)
                    + b" VALIDATE CONSTRAINT "
                    + foreign.group(2)
                    + b";"
                )
                continue
            serial.append(text)
        self._spread(keys)
        self._serial(serial)
        self._spread(validate)

    def _serial(self, statements: list[bytes]) -> None:
        if statements:
            first = self.workers[0]
            self._begin(first)
            first.execute(b"\n".join(statements))
            self._commit([first])

    def _spread(self, groups: dict[str, list[bytes]]) -> None:
        """Each table's statements in one session, the largest tables first, balanced by size."""
        if not groups:
            return
        buckets: list[list[bytes]] = [[] for _ in self.workers]
        loads = [0] * len(self.workers)
        for table in sorted(groups, key=lambda t: -self.weights.get(t, 0)):
            least = loads.index(min(loads))
            buckets[least] += groups[table]
            loads[least] += self.weights.get(table, 0) + 1
        used = []
        for worker, statements in zip(self.workers, buckets, strict=True):
            if statements:
                self._begin(worker)
                worker.execute(b"\n".join(statements))
                used.append(worker)
        self._commit(used)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.workers = []

    # --- the swap ---

    def swap(self, grants_sql: str, expected_rows: dict[str, int] | None) -> None:
        """In one transaction: check, lock the live tables, rename both schemas, drop the old."""
        import psycopg

        prev = PREV_PREFIX + self.stage.removeprefix(STAGE_PREFIX)
        live, stage = quote_ident(self.schema), quote_ident(self.stage)
        tables = [
            str(r[0])
            for r in self.conn.execute(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                "AND c.relkind IN ('r', 'p', 'm', 'v', 'f') ORDER BY c.oid",
                (self.schema,),
            ).fetchall()
        ]
        try:
            with self.conn.transaction():
                self.conn.execute(f"SET LOCAL lock_timeout = {int(self.lock_timeout * 1000)}")
                self.conn.execute("SET LOCAL client_min_messages = warning")
                self.conn.execute(_CHECK_PATH)
                self.conn.execute(check_sql(self.untouchable_stage, self.stage, expected_rows))
                if tables:
                    self.conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
                self.conn.execute(f"ALTER SCHEMA {live} RENAME TO {quote_ident(prev)}")
                self.conn.execute(f"ALTER SCHEMA {stage} RENAME TO {live}")
                if grants_sql:
                    self.conn.execute(grants_sql)
                self.conn.execute(f"DROP SCHEMA {quote_ident(prev)} CASCADE")
                self.conn.execute(check_sql(self.untouchable_live, self.schema, None))
        except psycopg.errors.LockNotAvailable:
            raise lock_wait_error(
                self.conn,
                self.schema,
                who="the restore",
                waited=self.lock_timeout,
                setting=RESTORE_LOCK_SETTING,
            ) from None


def _bare(name: bytes) -> str:
    """``stage.table`` (as pg_dump quotes it) → the table's name."""
    from lumidb.dump_stream import unquote_ident

    parts = re.findall(rb'"(?:[^"]|"")+"|[^."]+', name)
    return unquote_ident(parts[-1]) if parts else ""


def new_stage_name() -> str:
    return STAGE_PREFIX + secrets.token_hex(6)


def load_staged(
    source: AbstractContextManager[tuple[IO[bytes], Callable[[], str | None]]],
    target: DatabaseTarget,
    conn: Any,
    facts: TargetFacts,
    expected: dict[str, int] | None,
    *,
    lock_timeout: float,
    application_name: str,
    before_change: Callable[[], object] | None,
) -> StageOutcome:
    """Load ``source`` (SQL: ``load._sql_source``) into a staging schema and swap it in.

    Raises ``NotStageable`` (before the live schema changed), ``RefusedBackup`` or
    ``OperationError``; whatever happens, the sessions end and the staging schema goes.
    """
    import secrets

    import psycopg

    from lumidb.grants import reapply_sql

    stage = new_stage_name()
    dump_filter = StagingFilter(
        known_settings=facts.settings,
        existing_schemas=facts.schemas | {target.schema},
        target_schema=target.schema,
        stage_schema=stage,
    )
    swapped = False
    load = StagedLoad(
        target,
        conn,
        dump_filter,
        workers=WORKERS,
        lock_timeout=lock_timeout,
        application_name=application_name,
    )
    try:
        problem: str | None = None
        with source as (stream, source_failure):
            try:
                load.run(stream)
            except (OSError, EOFError) as exc:
                problem = f"cannot read the backup: {exc}"
            except Exception as exc:
                if not type(exc).__module__.startswith("zstandard"):
                    raise
                problem = f"cannot read the backup: {exc}"
            problem = problem or source_failure()
        if problem is None and not dump_filter.complete:
            problem = "the backup ends before pg_dump's closing line (a truncated file?)"
        if problem is None and not dump_filter.at_rest:
            problem = "the backup ends inside a statement (a truncated file?)"
        if problem is not None:
            raise OperationError(f"restore failed and was rolled back; nothing changed: {problem}")
        load.finish()
        load.close()
        if before_change is not None:
            before_change()
        rows = (
            None
            if expected is None
            else {bare_table(str(k), target.schema): int(v) for k, v in expected.items()}
        )
        load.swap(reapply_sql(facts.grants, tag=f"lumidb_grants_{secrets.token_hex(8)}"), rows)
        swapped = True
    except psycopg.Error as exc:
        raise OperationError(
            f"restore failed and was rolled back; nothing changed: {failure_message(exc)}"
        ) from None
    finally:
        # A second signal can come before the cleanup began (Ctrl-C, then SIGTERM): the
        # cleanup runs all the same, and the interrupt is raised once it is done.
        cleaned = False
        while not cleaned:
            try:
                with interrupts_recorded():
                    load.close()
                    if not swapped:
                        drop_schema(conn, stage)
                    cleaned = True
            except (KeyboardInterrupt, Terminated):
                if cleaned:
                    raise
    return StageOutcome(rows=dict(dump_filter.rows), notes=list(dump_filter.notes))
