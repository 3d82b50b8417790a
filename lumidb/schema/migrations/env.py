"""Alembic's environment for lumidb.

lumidb builds the Alembic ``Config`` in code (``lumidb.migrations``) and hands over an
open connection in ``config.attributes["connection"]``: there is no second source of
the database URL here, and no ``alembic.ini``. Each revision runs in its own
transaction, so a failing revision leaves schema and version as they were.
"""

from __future__ import annotations

from alembic import context

from lumidb.catalog import include_object
from lumidb.schema.models import Base


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("lumidb runs its migrations itself: use `lumidb migrate`, not `alembic`")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        transaction_per_migration=True,
        compare_type=True,
        compare_server_default=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("lumidb does not generate offline SQL scripts")
run_migrations_online()
