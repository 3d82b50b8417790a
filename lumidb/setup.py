"""``setup``: day one in one command, like Rails' ``db:prepare``.

Pending revisions are applied (on the local server when no URL is set: the command
resolves the target), and the sample data is seeded only when the application's tables
were just created by this run: never on a database that had them, never on production
(there ``setup`` only deploys). The whole decision happens under lumidb's lock, so two
replicas starting at once (a container entrypoint, two CI jobs) seed once. Running it
again changes nothing: it is safe as an entrypoint or a CI step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.seed import SeedOptions, SeedResult, validate_seed_input


@dataclass(frozen=True)
class SetupResult:
    """What setup did: revisions applied, and whether (and why not) it seeded."""

    database: str
    embedded: bool
    applied: list[str]
    revision: list[str]
    environment: str
    seeded: SeedResult | None
    seed_skipped: str | None
    notices: list[str]


def setup(
    target: DatabaseTarget,
    *,
    embedded: bool,
    environment: Environment,
    record_as: Environment | None,
    lock_timeout: float,
    seed_options: SeedOptions,
    backup_dir: Path | str,
    now: datetime,
) -> SetupResult:
    """Deploy, then seed a database whose tables this run created; under lumidb's lock."""
    from lumidb import backup_store, guard, migrations
    from lumidb.locks import database_lock
    from lumidb.seed import seed_into

    validate_seed_input(seed_options)  # a bad admin email must not leave tables unseeded
    notices = backup_store.ensure_backup_dir(backup_dir)
    with database_lock(target, "setup", timeout=lock_timeout):
        with connect(target, application_name="lumidb setup") as conn:
            had_tables = _has_application_tables(conn, target.schema)
        deployed = migrations.deploy_locked(target, environment=record_as)
        notices += deployed.notices
        seeded: SeedResult | None = None
        skipped: str | None = None
        with connect(target, application_name="lumidb setup", autocommit=False) as conn:
            record = guard.environment_record(conn, environment)
            if record.is_production:
                skipped = "production: setup only deploys there"
            elif had_tables:
                skipped = "the tables were already there (run `lumidb seed` to add the samples)"
            else:
                seeded = seed_into(conn, target, seed_options, now=now)
                conn.commit()
    return SetupResult(
        database=target.masked_url(),
        embedded=embedded,
        applied=[revision.revision for revision in deployed.applied],
        revision=deployed.current,
        environment=record.label,
        seeded=seeded,
        seed_skipped=skipped,
        notices=notices,
    )


def _has_application_tables(conn: object, schema: str) -> bool:
    row = conn.execute(  # type: ignore[attr-defined]
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'users')",
        (schema,),
    ).fetchone()
    return bool(row and row[0])
