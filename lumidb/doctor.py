"""``lumidb doctor``: every check a user needs before trusting lumidb with a database."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lumidb.config import Settings, setting_sources
from lumidb.errors import LumidbError, OperationError
from lumidb.outcome import Outcome

if TYPE_CHECKING:
    from lumidb.connection import DatabaseTarget

SETTING_NAMES = [
    "DATABASE_URL",
    "DIRECT_URL",
    "NODE_ENV",
    "LUMIDB_ENV",
    "LUMIDB_BACKUP_DIR",
    "LUMIDB_PG_BIN_DIR",
]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False  # passes, but deserves the fix (e.g. a backup folder others can read)


@dataclass(frozen=True)
class DoctorReport(Outcome):
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failure(self) -> OperationError | None:
        failed = [c.name for c in self.checks if not c.ok]
        if not failed:
            return None
        return OperationError(
            f"{len(failed)} check(s) failed: {', '.join(failed)}",
            hint="each failing check says how to fix it",
        )


def run_doctor(settings: Settings) -> DoctorReport:
    """Run every check; a failing check never stops the ones after it (but for the database)."""
    from lumidb.target import resolve_target

    checks: list[Check] = []
    sources = setting_sources(SETTING_NAMES)
    shown = (
        ", ".join(f"{k} from {v}" for k, v in sources.items() if v != "default") or "all defaults"
    )
    try:
        env = settings.environment.value
        checks.append(Check("configuration", True, f"{shown}; environment {env}"))
    except LumidbError as exc:
        checks.append(Check("configuration", False, str(exc.message), exc.hint))

    try:
        # never creates nor starts the local server: a stopped one is reported as such
        resolved = resolve_target(settings, start_embedded=False)
    except LumidbError as exc:
        checks.append(Check("database URL", False, exc.message, exc.hint or "fix DATABASE_URL"))
        checks.append(_backup_dir_check(settings))
        return DoctorReport(checks)
    target = resolved.target
    origin = "the local server (no DATABASE_URL set)" if resolved.embedded else target.source
    checks.append(Check("database URL", True, f"{target.masked_url()} ({origin})"))
    for warning in resolved.warnings:
        checks.append(
            Check("connection pooler", False, warning, "set DIRECT_URL to a direct connection")
        )

    from lumidb.connection import round_trip_ms

    try:
        connect_ms, query_ms, version = round_trip_ms(target)
    except LumidbError as exc:
        checks.append(Check("connection", False, exc.message, exc.hint))
        checks.append(_backup_dir_check(settings))
        return DoctorReport(checks)
    checks.append(
        Check("connection", True, f"connected in {connect_ms:.0f} ms, round trip {query_ms:.1f} ms")
    )
    checks.append(Check("server version", True, f"PostgreSQL {version}"))
    checks.append(_client_check(settings, version, target.needs_ssl))
    checks.append(_migration_check(target))
    checks.append(_backup_dir_check(settings))
    return DoctorReport(checks)


def _client_check(settings: Settings, version: str, needs_ssl: bool) -> Check:
    from lumidb import pgtools

    major = int(version.split(".")[0].split()[0])
    try:
        survey = pgtools.survey_clients(
            major, needs_ssl=needs_ssl, configured_dir=settings.pg_bin_dir
        )
    except LumidbError as exc:
        return Check("client programs", False, exc.message, exc.hint)
    found = "; ".join(
        f"{v.suite.version} {v.suite.origin}" + ("" if v.fits else f" ({v.reason})")
        for v in survey.verdicts
    )
    if survey.chosen is None:
        return Check("client programs", False, survey.problem or f"none fits; found {found}")
    chosen = survey.chosen
    return Check(
        "client programs", True, f"using {chosen.version} in {chosen.bin_dir} — found {found}"
    )


def _migration_check(target: DatabaseTarget) -> Check:
    from lumidb import migrations

    try:
        state = migrations.status(target)
    except LumidbError as exc:
        return Check("migrations", False, exc.message, exc.hint)
    current = ", ".join(state.current) or "none"
    if state.unadopted:
        return Check(
            "migrations",
            False,
            "the database has tables but no lumidb history",
            "run `lumidb migrate adopt`",
        )
    if state.pending:
        return Check(
            "migrations",
            False,
            f"at {current}; {len(state.pending)} pending",
            "run `lumidb migrate deploy`",
        )
    if state.drift:
        return Check(
            "migrations",
            False,
            f"at {current}; models and database differ ({state.drift[0]})",
            "run `lumidb migrate`",
        )
    return Check("migrations", True, f"at {current} (head)")


def _backup_dir_check(settings: Settings) -> Check:
    from lumidb.backup_store import backup_dir_problem

    path = settings.backup_dir
    if path.exists():
        problem = backup_dir_problem(path)
        if problem is not None:
            # Unusable fails; readable by others is a warning, as `lumidb backup` gives it.
            return Check(
                "backup directory",
                not problem.fatal,
                problem.message,
                problem.fix,
                warning=not problem.fatal,
            )
        mode = stat.S_IMODE(path.stat().st_mode)
        return Check("backup directory", True, f"{path} is writable (mode {mode:o})")
    parent = path.absolute().parent
    if os.access(parent, os.W_OK | os.X_OK):
        return Check(
            "backup directory", True, f"{path} will be created (mode 700) on the first backup"
        )
    return Check(
        "backup directory",
        False,
        f"{path} does not exist and {parent} is not writable",
        "set LUMIDB_BACKUP_DIR",
    )
