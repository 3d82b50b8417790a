"""Taking over a database the old Prisma setup created (``lumidb migrate adopt``).

The live schema is compared with what revision 0001 creates; only when they are equal
is 0001 recorded in ``alembic_version``. No data changes.
"""

from __future__ import annotations

from lumidb import catalog, migrations, schema_drift
from lumidb.connection import DatabaseTarget
from lumidb.errors import UsageError
from lumidb.locks import database_lock
from lumidb.migrations import FIRST_REVISION, AdoptResult


def adopt(target: DatabaseTarget, *, lock_timeout: float) -> AdoptResult:
    """Take over a database that Prisma Migrate created: compare, then record revision 0001.

    The live schema is compared with what the first revision creates, built for the
    comparison in a throwaway schema inside a transaction that is rolled back. Any
    difference is reported and the database is left as it was.
    """
    from alembic import command

    with (
        database_lock(target, "migrate adopt", timeout=lock_timeout),
        migrations.sa_connection(target, "migrate adopt") as conn,
    ):
        has_alembic, _, has_tables = migrations.bookkeeping(conn, target.schema)
        current = migrations.current_heads(conn) if has_alembic else ()
        if current:
            return AdoptResult(
                database=target.masked_url(),
                adopted=False,
                already=True,
                revision=",".join(current),
            )
        if not has_tables:
            raise UsageError(
                f"{target.dbname} has no LumiAI tables to adopt",
                hint="for an empty database, run `lumidb migrate deploy`",
            )
        live = catalog.snapshot(conn.connection.driver_connection, target.schema)
        expected = schema_drift.revision_catalogs(
            conn, migrations.script_directory(), upto=FIRST_REVISION
        )[-1][1]
        found = catalog.differences(expected, live, reference=f"revision {FIRST_REVISION}")
        if found:
            return AdoptResult(
                database=target.masked_url(),
                adopted=False,
                already=False,
                revision=FIRST_REVISION,
                differences=found,
            )
        command.stamp(migrations.alembic_config(conn), FIRST_REVISION)
        conn.commit()
    return AdoptResult(
        database=target.masked_url(), adopted=True, already=False, revision=FIRST_REVISION
    )
