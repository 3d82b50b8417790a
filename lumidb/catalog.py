"""A comparable picture of one schema's catalog: enums, columns, indexes, constraints.

Used to check a live database against what a revision creates (``migrate adopt``) and,
in the tests, against SCHEMA.md. Definitions come from PostgreSQL's own
``pg_get_indexdef``/``pg_get_constraintdef``/``format_type`` with the schema name
removed, so two schemas holding the same objects give equal pictures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# lumidb's and Prisma's bookkeeping: present or not, never part of the application schema.
BOOKKEEPING_TABLES = frozenset({"alembic_version", "_prisma_migrations"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: leave bookkeeping tables and lumidb's own schema out of comparisons."""
    if type_ == "table" and name in BOOKKEEPING_TABLES:
        return False
    return not (type_ == "table" and getattr(obj, "schema", None) == "lumidb")


@dataclass(frozen=True)
class Catalog:
    enums: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, dict[str, tuple[str, bool, str | None]]] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)


def snapshot(conn: Any, schema: str) -> Catalog:
    """Read the catalog of ``schema`` over a psycopg connection."""
    enums: dict[str, list[str]] = {}
    for name, labels in conn.execute(
        """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %s GROUP BY t.typname
        """,
        (schema,),
    ):
        enums[name] = list(labels)

    columns: dict[str, dict[str, tuple[str, bool, str | None]]] = {}
    for table, column, type_, not_null, default in conn.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0
          AND NOT a.attisdropped AND c.relname <> ALL(%s)
        ORDER BY c.relname, a.attnum
        """,
        (schema, list(BOOKKEEPING_TABLES)),
    ):
        columns.setdefault(table, {})[column] = (
            _unqualify(type_, schema),
            not not_null,
            _unqualify(default, schema) if default is not None else None,
        )

    indexes: dict[str, str] = {}
    for name, definition in conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s AND t.relname <> ALL(%s)
        """,
        (schema, list(BOOKKEEPING_TABLES)),
    ):
        indexes[name] = _unqualify(definition, schema)

    constraints: dict[str, str] = {}
    for table, name, definition in conn.execute(
        """
        SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s AND t.relname <> ALL(%s)
          AND c.contype <> 'n'  -- NOT NULL (PostgreSQL 18+) is part of the columns
        """,
        (schema, list(BOOKKEEPING_TABLES)),
    ):
        constraints[name] = f"{table}: {_unqualify(definition, schema)}"

    return Catalog(enums=enums, columns=columns, indexes=indexes, constraints=constraints)


def row_counts(conn: Any, schema: str) -> dict[str, int]:
    """Rows in every table of ``schema`` (partitioned tables counted once, as a whole)."""
    from psycopg import sql

    tables = conn.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname
        """,
        (schema,),
    ).fetchall()
    counts: dict[str, int] = {}
    for (table,) in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[str(table)] = int(row[0]) if row else 0
    return counts


def differences(expected: Catalog, actual: Catalog, *, reference: str = "the schema") -> list[str]:
    """Every way ``actual`` (the database) differs from ``expected`` (``reference``, e.g.
    ``revision 0001``), one readable line each."""
    found: list[str] = []
    _compare(found, "enum type", expected.enums, actual.enums, reference=reference)
    for table in sorted(expected.columns.keys() | actual.columns.keys()):
        if table not in actual.columns:
            found.append(f"table {table} is missing: {reference} has it, the database does not")
        elif table not in expected.columns:
            found.append(f"the database has a table {table} that {reference} does not")
        else:
            _compare(
                found,
                f"column {table}.",
                expected.columns[table],
                actual.columns[table],
                joiner="",
                reference=reference,
            )
    _compare(found, "index", expected.indexes, actual.indexes, reference=reference)
    _compare(found, "constraint", expected.constraints, actual.constraints, reference=reference)
    return found


def _compare(
    found: list[str],
    kind: str,
    expected: dict[str, Any],
    actual: dict[str, Any],
    joiner: str = " ",
    *,
    reference: str,
) -> None:
    article = "an" if kind[0] in "aeiou" else "a"
    for name in sorted(expected.keys() | actual.keys()):
        label = f"{kind}{joiner}{name}"
        if name not in actual:
            found.append(f"{label} is missing: {reference} has it, the database does not")
        elif name not in expected:
            found.append(f"the database has {article} {label} that {reference} does not")
        elif expected[name] != actual[name]:
            found.append(
                f"{label} is {_show(actual[name])} in the database, {_show(expected[name])} in {reference}"
            )


def _show(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 3:
        type_, nullable, default = value
        text = f"{type_} {'NULL' if nullable else 'NOT NULL'}"
        return text + (f" DEFAULT {default}" if default is not None else "")
    return str(value)


def _unqualify(text: str, schema: str) -> str:
    from lumidb.connection import quote_ident

    quoted = quote_ident(schema)
    for prefix in (f"{quoted}.", f"{schema}."):
        text = text.replace(prefix, "")
    return text
