"""How a live schema differs from the models (drift) and which revision's schema it equals.

``drift`` is what ``migrate status`` and the development flow compare; ``revision_catalogs``
builds each revision's schema in a throwaway schema (rolled back), which ``migrate adopt``
and the recovery of an emptied ``alembic_version`` compare the live schema with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lumidb import catalog

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection


def drift(conn: Connection, schema: str) -> list[str]:
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
    live_enums = catalog.snapshot(conn.connection.driver_connection, schema).enums
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


def matching_revision(conn: Connection, schema: str, script: ScriptDirectory) -> str | None:
    """The newest known revision whose schema the live one equals exactly, or None."""
    live = catalog.snapshot(conn.connection.driver_connection, schema)
    conn.rollback()
    for revision, expected in reversed(revision_catalogs(conn, script)):
        if not catalog.differences(expected, live):
            return revision
    return None


def revision_catalogs(
    conn: Connection, script: ScriptDirectory, *, upto: str | None = None
) -> list[tuple[str, catalog.Catalog]]:
    """The catalog after each revision, oldest first (up to ``upto``), built by applying them
    in a throwaway schema inside a transaction that is rolled back."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    scratch = "lumidb_adopt_check"
    scripts = list(script.walk_revisions("base", "heads"))
    scripts.reverse()
    found: list[tuple[str, catalog.Catalog]] = []
    conn.rollback()
    transaction = conn.begin()
    try:
        conn.execute(text(f"CREATE SCHEMA {scratch}"))
        conn.execute(text(f"SET LOCAL search_path TO {scratch}"))
        with Operations.context(MigrationContext.configure(conn)):
            for revision in scripts:
                revision.module.upgrade()
                found.append(
                    (
                        revision.revision,
                        catalog.snapshot(conn.connection.driver_connection, scratch),
                    )
                )
                if revision.revision == upto:
                    break
        return found
    finally:
        transaction.rollback()
