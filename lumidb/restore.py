"""Restores: ``restore-latest`` (plan, then act) and ``verify_backup`` (a scratch restore).

A restore replaces the application schema of the target with a backup in ONE
transaction: lumidb opens it itself (``BEGIN``), drops what the schema holds, streams
the dump into ``psql`` and sends ``COMMIT`` only when the whole dump went through and
ended with pg_dump's closing line. A truncated file, a bad statement, a dropped
connection, a killed or interrupted lumidb: ``psql`` ends without ``COMMIT`` and the
server rolls everything back. A custom-format dump goes through the same pipe
(``pg_restore -f -`` turns it into SQL), so objects that are not in the dump are
cleared in the same transaction too. Only ``--jobs`` (parallel ``pg_restore``) is not
one transaction; there the safety backup is mandatory.

A backup is data, never code. The stream goes through ``dump_stream.DumpFilter`` on
its way: only the statement forms pg_dump writes pass, anything else refuses the file
before it reaches psql (exit 2); ownership and privilege statements, settings the
target server does not know and ``CREATE SCHEMA`` of existing schemas are dropped; the
``lumidb`` schema's objects are skipped. lumidb starts the stream with its own
``\\restrict`` where psql knows it, and before ``COMMIT`` it gives other roles' grants
back and checks, in the same transaction, that the environment record and every other
schema are unchanged and the row counts match the manifest (``restore_checks``).

The ``lumidb`` schema (the environment record) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect, quote_ident
from lumidb.dump_stream import DUMP_COMPLETE as DUMP_COMPLETE
from lumidb.dump_stream import DumpFilter, RefusedBackup
from lumidb.errors import OperationError, UsageError
from lumidb.interrupts import Terminated, sigterm_raises
from lumidb.outcome import Outcome
from lumidb.pgtools import dies_with_lumidb
from lumidb.retention import SafetyRetention
from lumidb.schema_contents import blocking_sessions, clearing_statements, terminate_sessions
from lumidb.timespec import age_seconds

if TYPE_CHECKING:
    from lumidb.backup import SafetyBackup
    from lumidb.backup_store import BackupEntry
    from lumidb.grants import Grant
    from lumidb.pgtools import ClientSuite
    from lumidb.restore_checks import Untouchable

RECORD_SCHEMA = "lumidb"
CHUNK = 1 << 20
APPLICATION_NAME = "lumidb restore-latest"
LATE_INTERRUPT = (
    "interrupted after COMMIT was sent: lumidb waited for psql, and the restore was committed"
)

Notify = Callable[[str], None]


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreOptions:
    """What ``restore-latest`` was asked to do, and the settings it needs."""

    backup_dir: Path
    file: Path | None = None
    from_database: str | None = None  # take another database's backups (None: the target's)
    safety_backup: bool = True
    jobs: int | None = None
    terminate_connections: bool = False
    pg_bin_dir: Path | None = None
    environment: Environment = Environment.DEVELOPMENT
    lock_timeout: float = 30.0
    restore_lock_timeout: float = 10.0
    safety_retention: SafetyRetention = field(default_factory=SafetyRetention)


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do, shown before the user confirms it."""

    file: str
    backup_kind: str
    format: str
    compression: str
    size: int
    started_at: str | None
    age_seconds: float | None
    source_database: str | None
    another_database: bool  # the backup is of another database than the target
    chosen_by: str  # "newest" (the target's own), "--from-database" or "--file"
    source_host: str | None
    source_revision: str | None
    revision_known: bool | None
    source_environment: str | None
    target: str
    target_database: str
    schema: str
    production: bool
    replaces: str
    safety_backup: bool
    jobs: int | None
    warnings: list[str] = field(default_factory=list)
    target_revision: str | None = None  # the target's revision now (the restore replaces it)

    @property
    def revision_change(self) -> str | None:
        """``backup at 0001, database at 0002 → after the restore the database is at 0001``."""
        if self.source_revision is None or self.source_revision == self.target_revision:
            return None
        now = self.target_revision or "no revision"
        return (
            f"backup at {self.source_revision}, database at {now} → after the restore "
            f"the database is at {self.source_revision}"
        )


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore; ``undo_command`` brings back what was there before."""

    file: str
    target: str
    safety_backup: str | None
    undo_command: str | None
    duration_seconds: float
    rows: dict[str, int]
    terminated: list[str]
    jobs: int | None
    revision: str | None = None  # the revision the database is at after the restore
    behind_head: bool = False  # True: run `lumidb migrate deploy` to bring it up to date
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VerifyResult(Outcome):
    """A backup checked: its checksum, and a restore into a scratch database."""

    file: str
    checksum_ok: bool | None
    restored: bool
    scratch_database: str | None
    row_counts: dict[str, int]
    differences: list[str]
    duration_seconds: float
    manifest: bool = True  # False: an old script's file, no row counts to compare with

    @property
    def ok(self) -> bool:
        return self.checksum_ok is not False and self.restored and not self.differences

    @property
    def failure(self) -> OperationError | None:
        if self.ok:
            return None
        return OperationError("the backup did not verify", hint="see its differences")


# --- choosing the backup ------------------------------------------------------------


def latest_good_backup(backup_dir: Path, database: str) -> tuple[BackupEntry, list[str]]:
    """The newest backup of ``database`` (kind ``backup``, by its manifest) whose checksum
    matches.

    Only backups whose manifest names ``database`` are candidates: two databases sharing
    a folder never restore each other's backups. Safety backups, legacy files and
    temporary files are never candidates. Returns the entry and a warning for each newer
    one skipped.
    """
    from lumidb import backup_store

    if not backup_dir.is_dir():
        raise OperationError(
            f"no backup directory at {backup_dir.resolve()}: nothing to restore",
            hint="set LUMIDB_BACKUP_DIR, or give a backup with --file",
        )
    warnings: list[str] = []
    others: set[str] = set()
    for entry in backup_store.list_backups(backup_dir, kinds={backup_store.KIND_BACKUP}):
        if entry.manifest is None:
            continue
        source = entry.manifest.get("database")
        if source != database:
            if isinstance(source, str) and source:
                others.add(source)
            continue
        if backup_store.checksum_matches(entry):
            return entry, warnings
        warnings.append(
            f"skipped {entry.path.name}: its checksum does not match its manifest (damaged?)"
        )
    hint = "run `lumidb backup` first, or give a backup with --file"
    if others:
        hint = (
            "backups of other databases are there ("
            + ", ".join(sorted(others))
            + "): to restore one of them, say so with "
            + " or ".join(f"--from-database {name}" for name in sorted(others)[:3])
            + ", or give a backup with --file"
        )
    raise OperationError(
        f"no complete backup of {database} in {backup_dir.resolve()}"
        + (f" with a matching checksum ({len(warnings)} damaged)" if warnings else ""),
        hint=hint,
    )


def _check_choice(options: RestoreOptions) -> None:
    if options.file is not None and options.from_database is not None:
        raise UsageError("--file names the backup itself: give --file or --from-database, not both")


def check_backup_exists(options: RestoreOptions) -> None:
    """Fail early, before anything connects (or starts the local server): no backup to restore.

    Cheap: the checksum is checked later, by ``plan_restore``.
    """
    from lumidb import backup_store

    _check_choice(options)
    if options.file is not None:
        backup_store.load_entry(options.file)
        return
    if not options.backup_dir.is_dir():
        raise OperationError(
            f"no backup directory at {options.backup_dir.absolute()}: nothing to restore",
            hint="set LUMIDB_BACKUP_DIR, or give a backup with --file",
        )
    entries = backup_store.list_backups(options.backup_dir, kinds={backup_store.KIND_BACKUP})
    if not any(e.manifest is not None for e in entries):
        raise OperationError(
            f"no complete backup in {options.backup_dir.absolute()}: nothing to restore",
            hint="run `lumidb backup` first, or give a backup with --file",
        )


def _chosen_entry(options: RestoreOptions, target_database: str) -> tuple[BackupEntry, list[str]]:
    from lumidb import backup_store

    _check_choice(options)
    if options.file is None:
        return latest_good_backup(options.backup_dir, options.from_database or target_database)
    entry = backup_store.load_entry(options.file)
    warnings: list[str] = []
    if entry.manifest is None:
        warnings.append(
            f"{entry.path.name} has no manifest (an old script's backup?): no checksum to "
            "check and no row counts; its owner and privilege statements are left out"
        )
    elif not backup_store.checksum_matches(entry):
        raise OperationError(
            f"{entry.path.name} does not match the checksum in its manifest: it is damaged",
            hint="choose another backup",
        )
    return entry, warnings


# --- the plan -----------------------------------------------------------------------


def plan_restore(target: DatabaseTarget, options: RestoreOptions, *, now: datetime) -> RestorePlan:
    """Choose the backup, look at the target, and say what the restore will do (ages at ``now``)."""
    from lumidb import guard

    if target.schema == RECORD_SCHEMA:
        raise UsageError(f"the {RECORD_SCHEMA} schema is lumidb's own and is never restored")
    if options.jobs is not None:
        if options.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if not options.safety_backup:
            raise UsageError(
                "--jobs restores in parallel, which is not one transaction: "
                "its safety backup cannot be skipped",
                hint="drop --no-safety-backup, or --jobs for a restore in one transaction",
            )
    entry, warnings = _chosen_entry(options, target.dbname)
    manifest = entry.manifest or {}
    source_database = manifest.get("database")
    if options.jobs is not None and entry.format != "custom":
        raise UsageError(
            f"--jobs needs a custom-format backup (.dump); {entry.path.name} is plain SQL"
        )
    source_schema = str(manifest.get("schema") or target.schema)
    if source_schema != target.schema:
        raise UsageError(
            f"{entry.path.name} holds schema {source_schema!r}, the target uses {target.schema!r}",
            hint="restore into a URL with ?schema=" + source_schema,
        )
    revision = entry.alembic_revision
    known = _revision_known(revision) if revision else None
    if known is False:
        warnings.append(
            f"the backup is at revision {revision}, which this lumidb does not know "
            "(a newer schema than the code?); it restores as it is, update lumidb to migrate it"
        )
    with connect(target, application_name=APPLICATION_NAME) as conn:
        record = guard.environment_record(conn, options.environment)
        target_revision = current_revision(conn, target.schema)
    age = age_seconds(entry.when, now)
    return RestorePlan(
        file=str(entry.path),
        backup_kind=entry.kind,
        format=entry.format,
        compression=entry.compression,
        size=entry.size,
        started_at=manifest.get("started_at"),
        age_seconds=age,
        source_database=source_database,
        another_database=source_database is not None and source_database != target.dbname,
        chosen_by="--file"
        if options.file is not None
        else ("--from-database" if options.from_database is not None else "newest"),
        source_host=manifest.get("host"),
        source_revision=revision,
        revision_known=known,
        source_environment=manifest.get("environment"),
        target=target.masked_url(),
        target_database=target.dbname,
        schema=target.schema,
        production=record.is_production,
        replaces=f"all tables, data, types and functions of schema {target.schema!r} "
        f"in {target.dbname} are replaced by the backup's",
        safety_backup=options.safety_backup,
        jobs=options.jobs,
        warnings=warnings,
        target_revision=target_revision,
    )


def current_revision(conn: Any, schema: str) -> str | None:
    """The revision(s) recorded in ``schema``'s ``alembic_version`` (comma-joined), or None."""
    exists = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{quote_ident(schema)}.alembic_version",)
    ).fetchone()
    if not exists or not exists[0]:
        return None
    rows = conn.execute(
        f"SELECT version_num FROM {quote_ident(schema)}.alembic_version ORDER BY 1"
    ).fetchall()
    return ",".join(str(r[0]) for r in rows) or None


def _behind_head(revision: str | None) -> bool:
    """True when ``revision`` is one this lumidb knows and is not its head."""
    if revision is None or not _revision_known(revision):
        return False
    from lumidb.migrations import script_directory

    return set(revision.split(",")) != set(script_directory().get_heads())


def _revision_known(revision: str) -> bool:
    from lumidb.migrations import known_revision_ids

    return all(part in known_revision_ids() for part in revision.split(","))


# --- the restore --------------------------------------------------------------------


def restore(
    target: DatabaseTarget,
    plan: RestorePlan,
    options: RestoreOptions,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> RestoreResult:
    """Carry out ``plan`` under lumidb's database lock: safety backup (taken at ``now``), then the load."""
    from lumidb import backup_store
    from lumidb.locks import database_lock

    say = notify or (lambda _message: None)
    started = time.monotonic()
    entry = backup_store.load_entry(Path(plan.file))
    with (
        sigterm_raises(),
        database_lock(target, "restore-latest", timeout=options.lock_timeout),
    ):
        suite = _client_for(target, options.pg_bin_dir)
        terminated = terminate_sessions(target) if options.terminate_connections else []
        for line in terminated:
            say(f"ended session {line}")
        safety: str | None = None
        undo: str | None = None
        if plan.safety_backup:
            taken = _safety_backup(target, options, now)
            safety, undo = taken.path, taken.undo_command
            say(f"safety backup: {safety} (undo with: {undo})")
        try:
            loaded = _load(
                entry,
                target,
                suite=suite,
                pg_bin_dir=options.pg_bin_dir,
                jobs=plan.jobs,
                lock_timeout=options.restore_lock_timeout,
            )
        except OperationError as exc:
            if plan.jobs is not None and undo is not None:
                raise OperationError(
                    f"{exc.message}; a parallel restore is not one transaction, so the "
                    "database may be half restored",
                    hint=f"undo with: {undo}",
                ) from None
            raise
        except (KeyboardInterrupt, Terminated):
            if plan.jobs is not None and undo is not None:
                raise OperationError(
                    "interrupted: a parallel restore is not one transaction, "
                    "the database may be half restored",
                    hint=f"undo with: {undo}",
                ) from None
            raise OperationError(
                "interrupted: the restore was rolled back; the database is unchanged"
            ) from None
    return RestoreResult(
        file=plan.file,
        target=target.masked_url(),
        safety_backup=safety,
        undo_command=undo,
        duration_seconds=round(time.monotonic() - started, 3),
        rows=loaded.rows,
        terminated=terminated,
        jobs=plan.jobs,
        revision=plan.source_revision,
        behind_head=_behind_head(plan.source_revision),
        notes=loaded.notes,
    )


def _safety_backup(target: DatabaseTarget, options: RestoreOptions, now: datetime) -> SafetyBackup:
    from lumidb.backup import take_safety_backup

    return take_safety_backup(
        target,
        backup_dir=options.backup_dir,
        pg_bin_dir=options.pg_bin_dir,
        environment=options.environment.value,
        retention=options.safety_retention,
        now=now,
    )


def _client_for(target: DatabaseTarget, pg_bin_dir: Path | None) -> ClientSuite:
    from lumidb.pgtools import client_for

    with connect(target, application_name=APPLICATION_NAME) as conn:
        return client_for(conn, target, pg_bin_dir)


# --- loading ------------------------------------------------------------------------


@dataclass(frozen=True)
class _TargetFacts:
    schema_exists: bool
    schemas: frozenset[str]
    settings: frozenset[str]
    clear_sql: list[str]
    grants: list[Grant]
    untouchable: Untouchable


def _target_facts(target: DatabaseTarget, schema: str) -> _TargetFacts:
    from lumidb.grants import read_grants
    from lumidb.restore_checks import read_untouchable

    with connect(target, application_name=APPLICATION_NAME) as conn:
        schemas = frozenset(r[0] for r in conn.execute("SELECT nspname FROM pg_namespace"))
        settings = frozenset(r[0] for r in conn.execute("SELECT name FROM pg_settings"))
        clear = clearing_statements(conn, schema) if schema in schemas else []
        grants = read_grants(conn, schema) if schema in schemas else []
        untouchable = read_untouchable(conn, schema)
    return _TargetFacts(
        schema_exists=schema in schemas,
        schemas=schemas,
        settings=settings,
        clear_sql=clear,
        grants=grants,
        untouchable=untouchable,
    )


def _preamble(facts: _TargetFacts, schema: str, suite: ClientSuite) -> bytes:
    """lumidb's ``\\restrict`` (where psql knows it), ``BEGIN`` and the clearing statements."""
    from lumidb.restore_checks import restrict_line, restrict_supported

    lines = [restrict_line().rstrip("\n")] if restrict_supported(suite.version) else []
    # psql lexes strings by the server's standard_conforming_strings: on, as the filter does.
    lines += [
        "BEGIN;",
        "SET client_min_messages = warning;",
        "SET standard_conforming_strings = on;",
    ]
    if not facts.schema_exists:
        lines.append(f"CREATE SCHEMA {quote_ident(schema)};")
    lines += facts.clear_sql
    return ("\n".join(lines) + "\n").encode()


def _postamble(facts: _TargetFacts, schema: str, expected_rows: dict[str, int] | None) -> bytes:
    """After the dump, before COMMIT: the grants back, then the checks (they raise on a change)."""
    import secrets

    from lumidb.grants import reapply_sql
    from lumidb.restore_checks import check_sql

    text = "\nSET LOCAL search_path = pg_catalog, pg_temp;\n"
    text += reapply_sql(facts.grants, tag=f"lumidb_grants_{secrets.token_hex(8)}")
    text += check_sql(facts.untouchable, schema, expected_rows)
    return text.encode()


@dataclass(frozen=True)
class _Loaded:
    rows: dict[str, int]
    notes: list[str]


def _load(
    entry: BackupEntry,
    target: DatabaseTarget,
    *,
    suite: ClientSuite,
    pg_bin_dir: Path | None,
    jobs: int | None,
    lock_timeout: float,
) -> _Loaded:
    """Replace the target's schema with the backup; per-table rows loaded (when counted)."""
    facts = _target_facts(target, target.schema)
    manifest_rows = (entry.manifest or {}).get("row_counts")
    expected = manifest_rows if isinstance(manifest_rows, dict) else None
    if jobs is not None:
        notes = _check_archive(entry, target, facts, pg_bin_dir)
        _parallel_restore(entry, target, facts, suite=suite, jobs=jobs, lock_timeout=lock_timeout)
        return _Loaded(rows={}, notes=notes)
    dump_filter = _filter_for(facts, target.schema)
    with _sql_source(entry, pg_bin_dir) as (source, source_failure):
        late = _stream_into_psql(
            source,
            source_failure,
            target,
            suite=suite,
            preamble=_preamble(facts, target.schema, suite),
            postamble=_postamble(facts, target.schema, expected),
            dump_filter=dump_filter,
            lock_timeout=lock_timeout,
        )
    notes = list(dump_filter.notes) + ([late] if late else [])
    return _Loaded(rows=dict(dump_filter.rows), notes=notes)


def _filter_for(facts: _TargetFacts, schema: str) -> DumpFilter:
    return DumpFilter(
        known_settings=facts.settings,
        existing_schemas=facts.schemas | {schema},
        target_schema=schema,
    )


def _check_archive(
    entry: BackupEntry, target: DatabaseTarget, facts: _TargetFacts, pg_bin_dir: Path | None
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
    from lumidb import backup_store

    if entry.format == "plain":
        with backup_store.open_sql_stream(entry) as stream:
            yield stream, lambda: None
        return
    reader = _archive_reader(pg_bin_dir)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [
                str(reader.program("pg_restore")),
                "--no-owner",
                "--no-privileges",
                "--file=-",
                str(entry.path),
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
            return f"pg_restore cannot read {entry.path.name}: {_first_error(errors.read())}"

        try:
            yield proc.stdout, failure
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()


def _archive_reader(pg_bin_dir: Path | None) -> ClientSuite:
    """The newest pg_restore here: turning an archive into SQL needs no connection."""
    from lumidb.pgtools import find_client_suites

    suites = [s for s in find_client_suites(pg_bin_dir) if "pg_restore" not in s.missing]
    if not suites:
        raise OperationError("no pg_restore found to read a custom-format backup")
    return max(suites, key=lambda s: s.major)


def _child_env(target: DatabaseTarget, lock_timeout: float) -> dict[str, str]:
    env = target.child_env(APPLICATION_NAME)
    env["PGOPTIONS"] = f"-c lock_timeout={int(lock_timeout * 1000)}"
    return env


def _stream_into_psql(
    source: IO[bytes],
    source_failure: Callable[[], str | None],
    target: DatabaseTarget,
    *,
    suite: ClientSuite,
    preamble: bytes,
    postamble: bytes,
    dump_filter: DumpFilter,
    lock_timeout: float,
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
            env=_child_env(target, lock_timeout),
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
                + _first_error(errors.read(), target=target)
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
        problem = _first_error(stderr, target=target) or (f"psql exited with status {returncode}")
    if "lock timeout" in problem:
        blockers = blocking_sessions(target, target.schema)
        raise OperationError(
            f"the restore waited {lock_timeout:g}s for locks held by other sessions and was "
            f"rolled back; nothing changed. Blocking: {'; '.join(blockers) or 'gone by now'}",
            hint="end those sessions, or rerun with --terminate-connections "
            "(LUMIDB_RESTORE_LOCK_TIMEOUT sets the wait)",
        )
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
    facts: _TargetFacts,
    *,
    suite: ClientSuite,
    jobs: int,
    lock_timeout: float,
) -> None:
    """``pg_restore --jobs``: clear the schema (one transaction), then load in parallel."""
    import psycopg

    with connect(target, application_name=APPLICATION_NAME, autocommit=False) as conn:
        try:
            conn.execute(f"SET lock_timeout = {int(lock_timeout * 1000)}")
            conn.execute("SET client_min_messages = warning")
            if not facts.schema_exists:
                conn.execute(f"CREATE SCHEMA {quote_ident(target.schema)}")
            for statement in facts.clear_sql:
                conn.execute(statement)
            conn.commit()
        except psycopg.errors.LockNotAvailable:
            conn.rollback()
            blockers = blocking_sessions(target, target.schema)
            raise OperationError(
                f"the restore waited {lock_timeout:g}s for locks held by other sessions; "
                f"nothing changed. Blocking: {'; '.join(blockers) or 'gone by now'}",
                hint="end those sessions, or rerun with --terminate-connections",
            ) from None
    pg_restore = str(suite.program("pg_restore"))
    env = _child_env(target, lock_timeout)
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
                f"pg_restore cannot read {entry.path.name}: {_first_error(toc.stderr)}"
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
        raise OperationError(f"pg_restore failed: {_first_error(stderr, target=target)}")


_TOC_SCHEMA_RE = re.compile(rb"^\d+; \d+ \d+ (?:SCHEMA|COMMENT) - (?:SCHEMA )?(\S+) ")
_TOC_RECORD_RE = re.compile(rb'^\d+; \d+ \d+ (?:[A-Z]+ )+?(?:lumidb|"lumidb") ')


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


def _first_error(stderr: bytes, *, target: DatabaseTarget | None = None) -> str:
    text = stderr.decode("utf-8", "replace")
    if target is not None:
        text = target.scrub(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = next(
        (line for line in lines if "ERROR:" in line or "FATAL:" in line or "error:" in line),
        lines[0] if lines else "",
    )
    chosen = re.sub(r"^psql:<stdin>:\d+:\s*", "", chosen)
    return re.sub(r"\s+", " ", chosen)


# --- verification -------------------------------------------------------------------


def verify_backup(
    entry: BackupEntry, *, target: DatabaseTarget, pg_bin_dir: Path | None
) -> VerifyResult:
    """Check a backup: its checksum, then a restore into a scratch database.

    The scratch database (``lumidb_verify_<random>``) is created on the same server as
    ``target`` and dropped afterwards, also on failure or Ctrl-C. The restored row count
    of every table is compared with the manifest; ``differences`` says what differed.
    """
    import secrets

    from lumidb import backup_store

    started = time.monotonic()
    checksum = backup_store.checksum_matches(entry)

    def result(**kwargs: Any) -> VerifyResult:
        values: dict[str, Any] = {
            "file": str(entry.path.absolute()),
            "checksum_ok": checksum,
            "manifest": entry.manifest is not None,
            "restored": False,
            "scratch_database": None,
            "row_counts": {},
            "differences": [],
            **kwargs,
        }
        return VerifyResult(duration_seconds=round(time.monotonic() - started, 3), **values)

    if checksum is False:
        return result(differences=["the file does not match the size and SHA-256 in its manifest"])
    manifest = entry.manifest or {}
    schema = str(manifest.get("schema") or target.schema)
    name = f"lumidb_verify_{secrets.token_hex(6)}"
    scratch = replace(target.for_database(name), schema=schema)
    with connect(target, application_name="lumidb verify") as conn:
        from lumidb.pgtools import client_for

        suite = client_for(conn, target, pg_bin_dir)
        _create_scratch_database(conn, target, name)
    try:
        try:
            _load(
                entry,
                scratch,
                suite=suite,
                pg_bin_dir=pg_bin_dir,
                jobs=None,
                lock_timeout=60.0,
            )
        except OperationError as exc:
            return result(scratch_database=name, differences=[exc.message])
        counts = _row_counts(scratch, schema)
    finally:
        _drop_database(target, name)
    expected = manifest.get("row_counts")
    differences = _compare_counts(expected, counts, schema) if isinstance(expected, dict) else []
    return result(restored=True, scratch_database=name, row_counts=counts, differences=differences)


def _create_scratch_database(conn: Any, target: DatabaseTarget, name: str) -> None:
    """Create the scratch database of a verification; a role that may not is a UsageError."""
    import psycopg

    try:
        conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0")
    except psycopg.errors.InsufficientPrivilege:
        raise UsageError(
            f"verifying a backup needs a role that may create databases (CREATEDB), or a "
            f"superuser: {target.user} may not create the scratch database it restores into",
            hint=f"ALTER ROLE {quote_ident(target.user)} CREATEDB, or verify with the URL "
            "of a role that may",
        ) from None


def _row_counts(target: DatabaseTarget, schema: str) -> dict[str, int]:
    from lumidb import catalog

    with connect(target, application_name="lumidb verify") as conn:
        return catalog.row_counts(conn, schema)


def _compare_counts(expected: dict[str, Any], actual: dict[str, int], schema: str) -> list[str]:
    def bare(name: str) -> str:
        prefix = schema + "."
        name = name.removeprefix(prefix).removeprefix(f'"{schema}".')
        return name[1:-1].replace('""', '"') if name.startswith('"') else name

    wanted = {bare(str(k)): v for k, v in expected.items()}
    differences = []
    for table, rows in sorted(wanted.items()):
        if table not in actual:
            differences.append(f"table {table}: in the manifest, missing after the restore")
        elif actual[table] != rows:
            differences.append(
                f"table {table}: the manifest says {rows} rows, the restore has {actual[table]}"
            )
    differences += [
        f"table {table}: restored ({actual[table]} rows) but not in the manifest"
        for table in sorted(set(actual) - set(wanted))
    ]
    return differences


def _drop_database(target: DatabaseTarget, name: str) -> None:
    with connect(target, application_name="lumidb verify") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
