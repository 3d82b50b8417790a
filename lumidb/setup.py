"""``lumidb setup``: day one in one command, like Rails' ``db:prepare``.

Pending revisions are applied; the sample data goes in only when this run created the
application's tables (never otherwise, never on production, where setup only deploys).
lumidb's lock is held from the deploy through the seed decision, so two replicas
starting at once seed once. Safe to run again and again (a container entrypoint, a CI
step): on an up-to-date database it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lumidb import guard, migrations
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.locks import database_lock
from lumidb.seed import PASSWORD_HINT, SeedResult, load_catalogue, seed_connection


@dataclass(frozen=True)
class SetupResult:
    database: str
    applied: list[migrations.RevisionInfo]
    created_tables: bool
    production: bool
    environment: str
    seed: SeedResult | None
    seed_skipped: str
    next_steps: list[str] = field(default_factory=list)


def setup(
    target: DatabaseTarget,
    *,
    now: datetime,
    shell_environment: Environment,
    environment_to_record: Environment | None,
    admin_email: str,
    admin_password: str | None,
    lock_timeout: float,
    embedded: bool,
) -> SetupResult:
    """Deploy, then seed if (and only if) this run created the tables and it is not production.

    A database made by Prisma Migrate and not adopted is refused (exit 3, naming
    ``lumidb migrate adopt``), as ``migrate deploy`` refuses it.
    """
    catalogue = load_catalogue()
    with (
        database_lock(target, "setup", timeout=lock_timeout),
        migrations._sa_connection(target, "setup") as conn,
    ):
        migrations._refuse_unadopted(conn, target)
        _, _, had_tables = migrations._bookkeeping(conn, target.schema)
        applied = migrations._upgrade(conn, target)
        with connect(target, application_name="lumidb setup", autocommit=False) as raw:
            if environment_to_record is not None:
                guard.record_environment(raw, environment_to_record)
            record = guard.environment_record(raw, shell_environment)
            seeded: SeedResult | None = None
            if had_tables:
                skipped = "skipped: the tables already existed (run `lumidb seed` to add samples)"
            elif record.is_production:
                skipped = "skipped: production is never seeded by setup"
            else:
                seeded = seed_connection(
                    raw,
                    database=target.masked_url(),
                    now=now,
                    admin_email=admin_email,
                    admin_password=admin_password,
                    refresh=False,
                    catalogue=catalogue,
                )
                skipped = ""
            raw.commit()
    steps = [f"admin: {admin_email}"]
    if seeded is not None and seeded.generated_password is not None:
        steps.append(f"its password was generated and shown once; to choose one: {PASSWORD_HINT}")
    elif admin_password is not None:
        steps.append("its password: the value of LUMIDB_ADMIN_PASSWORD")
    else:
        steps.append(f"to set its password: {PASSWORD_HINT}")
    if embedded:
        steps.append("the URL for the application's .env: `lumidb server url`")
    return SetupResult(
        database=target.masked_url(),
        applied=applied,
        created_tables=not had_tables,
        production=record.is_production,
        environment=record.label,
        seed=seeded,
        seed_skipped=skipped,
        next_steps=steps,
    )
