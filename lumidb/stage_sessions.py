"""The sessions of a staged restore, and what one may leave behind.

``StageSession`` is one of the parallel sessions of ``staged_load``: a thread of its own
runs the jobs (statements, COPY data) the reading thread hands it, and keeps the first
error. ``stage_obstacle`` says when a schema cannot be replaced by a swap (the restore
then loads in one transaction); ``drop_leftovers`` drops what a killed staged restore
left (``lumidb_stage_*``, ``lumidb_prev_*``), under the database lock of the next one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from lumidb.connection import DatabaseTarget, quote_ident
from lumidb.stage_filter import PREV_PREFIX, STAGE_PREFIX

QUEUE_DEPTH = 8


def stage_obstacle(conn: Any, schema: str) -> str | None:
    """Why ``schema`` cannot be replaced by a staged load (then: one transaction), or None."""
    row = conn.execute(
        """
        SELECT n.oid,
               has_database_privilege(current_database(), 'CREATE')
               AND pg_has_role(n.nspowner, 'USAGE'),
               EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'e' AND d.refclassid =
                       'pg_extension'::regclass AND EXISTS (SELECT 1 FROM pg_extension e
                       WHERE e.oid = d.refobjid AND e.extnamespace = n.oid)),
               EXISTS (SELECT 1 FROM pg_default_acl a WHERE a.defaclnamespace = n.oid)
        FROM pg_namespace n WHERE n.nspname = %s
        """,
        (schema,),
    ).fetchone()
    if row is None:
        return "the schema does not exist yet"
    oid, may_rename, extension, default_acl = row
    if not may_rename:
        return "this role may not rename the schema"
    if extension:
        return "an extension lives in the schema"
    if default_acl:
        return "the schema has default privileges"
    outside = conn.execute(
        """
        SELECT 1 FROM pg_depend d
        JOIN pg_class c ON d.refclassid = 'pg_class'::regclass AND c.oid = d.refobjid
        WHERE c.relnamespace = %s AND d.classid = 'pg_rewrite'::regclass
          AND EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class
                      WHERE r.oid = d.objid AND v.relnamespace <> %s)
        UNION ALL
        SELECT 1 FROM pg_constraint k JOIN pg_class c ON c.oid = k.confrelid
        WHERE k.contype = 'f' AND c.relnamespace = %s AND k.connamespace <> %s
        LIMIT 1
        """,
        (oid, oid, oid, oid),
    ).fetchone()
    if outside is not None:
        return "objects of other schemas depend on it"
    return None


def drop_leftovers(conn: Any, lock_timeout: float) -> list[str]:
    """Drop the staging and old schemas a killed or failed staged restore left behind."""
    import psycopg

    names = [
        str(r[0])
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s OR nspname LIKE %s",
            (STAGE_PREFIX.replace("_", "\\_") + "%", PREV_PREFIX.replace("_", "\\_") + "%"),
        ).fetchall()
    ]
    dropped = []
    for name in names:
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}")
                conn.execute("SET LOCAL client_min_messages = warning")
                conn.execute(f"DROP SCHEMA {quote_ident(name)} CASCADE")
        except psycopg.Error:
            continue
        dropped.append(name)
    return dropped


class StageSession:
    """One session of a staged load, in a thread of its own, fed jobs by the reading thread."""

    def __init__(self, target: DatabaseTarget, application_name: str) -> None:
        import psycopg

        self.conn = psycopg.connect(autocommit=True, **target.conninfo_params(application_name))
        self.jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(QUEUE_DEPTH)
        self.error: BaseException | None = None
        self.loaded = 0  # bytes of COPY data sent, to balance the sessions
        self._copy_cm: Any = None
        self._copy: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is None:
                try:
                    job()
                except BaseException as exc:
                    self.error = exc

    def submit(self, job: Callable[[], object]) -> None:
        # Polled, not a blocking put: Ctrl-C then SIGTERM at once inside a Condition
        # wait can leave its lock broken ("release unlocked lock").
        while True:
            try:
                self.jobs.put_nowait(job)
                return
            except queue.Full:
                time.sleep(0.002)

    def execute(self, sql: bytes | str) -> None:
        self.submit(lambda: self.conn.execute(sql.encode() if isinstance(sql, str) else sql))

    def begin_copy(self, sql: str) -> None:
        def go() -> None:
            self._copy_cm = self.conn.cursor().copy(sql.encode())
            self._copy = self._copy_cm.__enter__()

        self.submit(go)

    def write(self, data: bytes) -> None:
        self.loaded += len(data)
        self.submit(lambda: self._copy.write(data))

    def end_copy(self) -> None:
        def go() -> None:
            cm, self._copy_cm, self._copy = self._copy_cm, None, None
            cm.__exit__(None, None, None)

        self.submit(go)

    def wait(self) -> None:
        """Until every job so far ran; raises the first error of this session."""
        done: list[bool] = []
        self.submit(lambda: done.append(True))
        while not done and self.error is None and self.thread.is_alive():
            time.sleep(0.002)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """End the session (its open transaction rolls back), also in the middle of a job."""
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self.conn.cancel_safe(timeout=2)
            with contextlib.suppress(queue.Empty):
                while True:
                    self.jobs.get_nowait()
            with contextlib.suppress(queue.Full):
                self.jobs.put(None, timeout=2)
            self.thread.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()


def drop_schema(conn: Any, name: str) -> None:
    """Drop a staging schema after a failure (best effort: the next restore drops it too)."""
    with contextlib.suppress(Exception):
        if conn.info.transaction_status != 0:
            conn.rollback()
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = 5000")
            conn.execute("SET LOCAL client_min_messages = warning")
            conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")


def failure_message(exc: BaseException) -> str:
    """The first line of a server error, without psycopg's decoration."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
