"""Loading a backup into a database: streamed into ``psql`` in ONE transaction, or ``pg_restore --jobs``.

lumidb opens the transaction itself (``BEGIN``), drops what the schema holds, streams the
dump into ``psql`` and sends ``COMMIT`` only when the whole dump went through the filter
(``dump_filter``), ended with pg_dump's closing line and passed the grants and checks of
``restore_checks``. A truncated file, a bad statement, a dropped connection, a killed or
interrupted lumidb: ``psql`` ends without ``COMMIT`` and the server rolls everything back.
A custom-format dump goes through the same pipe (``pg_restore -f -``); only ``--jobs``
(parallel ``pg_restore``) is not one transaction. Children die with lumidb.
``load_backup`` serves ``restore`` and ``verify`` on the connection its caller holds.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lumidb.connection import DatabaseTarget, quote_ident
from lumidb.dump_filter import DumpFilter
from lumidb.dump_stream import RefusedBackup
from lumidb.errors import OperationError
from lumidb.guard import RECORD_SCHEMA
from lumidb.interrupts import Terminated
from lumidb.pgtools import archive_reader, child_error, dies_with_lumidb
from lumidb.restore_checks import (
    Untouchable,
    postamble,
    preamble,
    read_untouchable,
    restrict_supported,
)
from lumidb.schema_contents import clearing_statements, lock_wait_error

if TYPE_CHECKING:
    from lumidb.backup_store import BackupEntry
    from lumidb.grants import Grant
    from lumidb.pgtools import ClientSuite

CHUNK = 1 << 20
LATE_INTERRUPT = (
    "interrupted after COMMIT was sent: lumidb waited for psql, and the restore was committed"
)
RESTORE_LOCK_SETTING = "LUMIDB_RESTORE_LOCK_TIMEOUT"


@dataclass(frozen=True)
class Loaded:
    """What a load did: rows loaded per ``schema.table`` (when counted), and notes."""

    rows: dict[str, int]
    notes: list[str]


@dataclass(frozen=True)
class TargetFacts:
    """What the load needs to know of the target, read before it starts."""

    schema_exists: bool
    schemas: frozenset[str]
    settings: frozenset[str]
    clear_sql: list[str]
    grants: list[Grant]
    untouchable: Untouchable


def read_target_facts(conn: Any, schema: str) -> TargetFacts:
    """Schemas, settings, the clearing statements, grants and what must not change."""
    from lumidb.grants import read_grants

    schemas = frozenset(r[0] for r in conn.execute("SELECT nspname FROM pg_namespace"))
    settings = frozenset(r[0] for r in conn.execute("SELECT name FROM pg_settings"))
    return TargetFacts(
        schema_exists=schema in schemas,
        schemas=schemas,
        settings=settings,
        clear_sql=clearing_statements(conn, schema) if schema in schemas else [],
        grants=read_grants(conn, schema) if schema in schemas else [],
        untouchable=read_untouchable(conn, schema),
    )


def load_backup(
    entry: BackupEntry,
    target: DatabaseTarget,
    conn: Any,
    *,
    suite: ClientSuite,
    pg_bin_dir: Path | None,
    jobs: int | None,
    lock_timeout: float,
    application_name: str,
) -> Loaded:
    """Replace ``target``'s schema with the backup; ``conn`` is an open session on ``target``.

    The children (``psql``, ``pg_restore``) connect as ``application_name`` and wait at
    most ``lock_timeout`` seconds for a lock. Raises ``OperationError`` (nothing
    changed, except after a failed ``--jobs`` load) or ``RefusedBackup``.
    """
    facts = read_target_facts(conn, target.schema)
    expected = entry.manifest.row_counts if entry.manifest else None
    if jobs is not None:
        from lumidb import backup_read

        with backup_read.local_copy(entry) as local:  # one download, checked, then loaded
            notes = _check_archive(local, target, facts, pg_bin_dir)
            _parallel_restore(
                local,
                target,
                conn,
                facts,
                suite=suite,
                jobs=jobs,
                lock_timeout=lock_timeout,
                application_name=application_name,
            )
        return Loaded(rows={}, notes=notes)
    dump_filter = _filter_for(facts, target.schema)
    with _sql_source(entry, pg_bin_dir) as (source, source_failure):
        late = _stream_into_psql(
            source,
            source_failure,
            target,
            conn,
            suite=suite,
            preamble=preamble(
                target.schema,
                create_schema=not facts.schema_exists,
                clear_sql=facts.clear_sql,
                restrict=restrict_supported(suite.version),
            ),
            postamble=postamble(facts.untouchable, facts.grants, target.schema, expected),
            dump_filter=dump_filter,
            lock_timeout=lock_timeout,
            application_name=application_name,
        )
    notes = list(dump_filter.notes) + ([late] if late else [])
    return Loaded(rows=dict(dump_filter.rows), notes=notes)


def _lock_wait(conn: Any, schema: str, waited: float) -> OperationError:
    return lock_wait_error(
        conn, schema, who="the restore", waited=waited, setting=RESTORE_LOCK_SETTING
    )


def _filter_for(facts: TargetFacts, schema: str) -> DumpFilter:
    return DumpFilter(
        known_settings=facts.settings,
        existing_schemas=facts.schemas | {schema},
        target_schema=schema,
    )


def _check_archive(
    entry: BackupEntry, target: DatabaseTarget, facts: TargetFacts, pg_bin_dir: Path | None
) -> list[str]:
    """Run a custom archive's SQL (``pg_restore -f -``) through the filter before ``--jobs``."""
    dump_filter = _filter_for(facts, target.schema)
    with _sql_source(entry, pg_bin_dir) as (source, source_failure):
        while chunk := source.read(CHUNK):
            dump_filter.feed(chunk)
        dump_filter.finish()
        problem = source_failure()
    if problem is not None:
        raise OperationError(f"{problem}; nothing changed")
    return list(dump_filter.notes)


@contextmanager
def _sql_source(
    entry: BackupEntry, pg_bin_dir: Path | None
) -> Iterator[tuple[IO[bytes], Callable[[], str | None]]]:
    """The backup as a stream of SQL (decompressed plain SQL, or ``pg_restore -f -``).

    With it comes a check, called at the end of the stream before ``COMMIT``: the
    reason the stream is not the whole backup, or None.
    """
    from lumidb import backup_read

    if entry.format == "plain":
        with backup_read.open_sql_stream(entry) as stream:
            yield stream, lambda: None
        return
    reader = archive_reader(pg_bin_dir)
    with backup_read.local_file(entry) as data, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [
                str(reader.program("pg_restore")),
                "--no-owner",
                "--no-privileges",
                "--file=-",
                str(data),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
            preexec_fn=dies_with_lumidb(),
        )
        assert proc.stdout is not None

        def failure() -> str | None:
            if proc.wait() == 0:
                return None
            errors.seek(0)
            return f"pg_restore cannot read {entry.file_name}: {child_error(errors.read())}"

        try:
            yield proc.stdout, failure
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()


def _child_env(
    target: DatabaseTarget, application_name: str, lock_timeout: float
) -> dict[str, str]:
    env = target.child_env(application_name)
    env["PGOPTIONS"] = f"-c lock_timeout={int(lock_timeout * 1000)}"
    return env


def _stream_into_psql(
    source: IO[bytes],
    source_failure: Callable[[], str | None],
    target: DatabaseTarget,
    conn: Any,
    *,
    suite: ClientSuite,
    preamble: bytes,
    postamble: bytes,
    dump_filter: DumpFilter,
    lock_timeout: float,
    application_name: str,
) -> str | None:
    """Feed ``BEGIN``, the clearing statements, the filtered dump and the checks to ``psql``.

    ``COMMIT`` is sent only after the whole dump went through the filter, ending in
    pg_dump's closing line; anything else ends ``psql`` inside the open transaction,
    which the server rolls back. The filter judges each statement before any byte of
    it is written, so a refused file has sent psql nothing that acts. Once ``COMMIT``
    is sent, an interrupt no longer stops psql: lumidb waits and says what happened
    (``LATE_INTERRUPT`` is returned when the restore was committed all the same).
    """
    command = [
        str(suite.program("psql")),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        f"--dbname={target.child_dsn()}",
    ]
    with tempfile.TemporaryFile() as errors:
        # A session of its own: a Ctrl-C at the terminal reaches lumidb, which ends psql
        # before it could reach the end of its input.
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=_child_env(target, application_name, lock_timeout),
            start_new_session=True,
            preexec_fn=dies_with_lumidb(),
        )
        assert proc.stdin is not None
        problem: str | None = None
        committed = False
        try:
            try:
                proc.stdin.write(preamble)
                while chunk := source.read(CHUNK):
                    proc.stdin.write(dump_filter.feed(chunk))
                proc.stdin.write(dump_filter.finish())
                problem = source_failure()
                if problem is None and not dump_filter.complete:
                    problem = "the backup ends before pg_dump's closing line (a truncated file?)"
                if problem is None and not dump_filter.at_rest:
                    problem = "the backup ends inside a statement (a truncated file?)"
                if problem is None:
                    committed = True  # from here on psql may commit: never claim otherwise
                    proc.stdin.write(postamble + b"COMMIT;\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass  # psql stopped at an error: its stderr says which
            except (OSError, EOFError) as exc:
                problem = f"cannot read the backup: {exc}"
            except RefusedBackup:
                raise
            except Exception as exc:
                # zstandard.ZstdError: a damaged compressed file.
                if not type(exc).__module__.startswith("zstandard"):
                    raise
                problem = f"cannot read the backup: {exc}"
        except BaseException:
            if not committed:
                _end(proc)
                raise
            # COMMIT is on its way: psql decides now, so wait for it and tell the truth.
            with contextlib.suppress(OSError):
                proc.stdin.close()
            returncode = _wait_uninterrupted(proc)
            if returncode == 0:
                return LATE_INTERRUPT
            errors.seek(0)
            raise OperationError(
                "interrupted after COMMIT was sent; lumidb waited for psql, which failed, so "
                "the restore was rolled back and nothing changed: "
                + child_error(errors.read(), target)
            ) from None
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if problem is not None:
            _end(proc)
        if committed:
            returncode, late = _wait_noting_interrupts(proc)
        else:
            returncode, late = proc.wait(), False
        errors.seek(0)
        stderr = errors.read()
    if problem is None and committed and returncode == 0:
        return LATE_INTERRUPT if late else None
    if problem is None:
        problem = child_error(stderr, target) or (f"psql exited with status {returncode}")
    if "lock timeout" in problem:
        raise _lock_wait(conn, target.schema, lock_timeout)
    raise OperationError(f"restore failed and was rolled back; nothing changed: {problem}")


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child and its process group (pg_restore's workers too), and wait for it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    _wait_uninterrupted(proc)


def _wait_uninterrupted(proc: subprocess.Popen[bytes]) -> int:
    """Wait for a child to exit; Ctrl-C or SIGTERM meanwhile do not stop the waiting."""
    return _wait_noting_interrupts(proc)[0]


def _wait_noting_interrupts(proc: subprocess.Popen[bytes]) -> tuple[int, bool]:
    """The child's exit status, and whether an interrupt came while waiting for it."""
    interrupted = False
    while True:
        try:
            return proc.wait(), interrupted
        except (KeyboardInterrupt, Terminated):
            interrupted = True


def _parallel_restore(
    entry: BackupEntry,
    target: DatabaseTarget,
    conn: Any,
    facts: TargetFacts,
    *,
    suite: ClientSuite,
    jobs: int,
    lock_timeout: float,
    application_name: str,
) -> None:
    """``pg_restore --jobs``: clear the schema (one transaction), then load in parallel."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}")
            conn.execute("SET LOCAL client_min_messages = warning")
            if not facts.schema_exists:
                conn.execute(f"CREATE SCHEMA {quote_ident(target.schema)}")
            for statement in facts.clear_sql:
                conn.execute(statement)
    except psycopg.errors.LockNotAvailable:
        raise _lock_wait(conn, target.schema, lock_timeout) from None
    pg_restore = str(suite.program("pg_restore"))
    env = _child_env(target, application_name, lock_timeout)
    with tempfile.TemporaryDirectory(prefix="lumidb-restore-") as folder:
        listing = Path(folder) / "toc.list"
        toc = subprocess.run(
            [pg_restore, "--list", str(entry.path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if toc.returncode != 0:
            raise OperationError(
                f"pg_restore cannot read {entry.path.name}: {child_error(toc.stderr)}"
            )
        listing.write_bytes(_without_existing_schemas(toc.stdout, facts.schemas))
        command = [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--jobs={jobs}",
            f"--use-list={listing}",
            f"--dbname={target.child_dsn()}",
            str(entry.path),
        ]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=dies_with_lumidb(),
        )
        try:
            _, stderr = proc.communicate()
        except BaseException:
            _end(proc)
            raise
    if proc.returncode != 0:
        raise OperationError(f"pg_restore failed: {child_error(stderr, target)}")


_TOC_SCHEMA_RE = re.compile(rb"^\d+; \d+ \d+ (?:SCHEMA|COMMENT) - (?:SCHEMA )?(\S+) ")
_RECORD = re.escape(RECORD_SCHEMA.encode())
_TOC_RECORD_RE = re.compile(
    rb"^\d+; \d+ \d+ (?:[A-Z]+ )+?(?:" + _RECORD + rb'|"' + _RECORD + rb'") '
)


def _without_existing_schemas(listing: bytes, schemas: frozenset[str]) -> bytes:
    """Comment out the archive's ``CREATE SCHEMA`` (and its comment) of schemas that exist."""
    out = []
    for line in listing.splitlines(keepends=True):
        match = _TOC_SCHEMA_RE.match(line)
        if match and match.group(1).decode(errors="replace").strip('"') in schemas:
            line = b";" + line
        elif _TOC_RECORD_RE.match(line):
            line = b";" + line  # the lumidb schema's objects are never restored
        out.append(line)
    return b"".join(out)
