"""Other roles' privileges on a schema's objects, read before a restore or reset and given back.

A restore or reset drops and recreates the application's tables, so privileges granted
to other roles (a read-only reporting role, say) would be lost: dumps are taken with
``--no-privileges``. Commands read them first (``read_grants``) and put them back in the
same transaction (``reapply_sql``), for every object that still exists afterwards.
The owner's own privileges are not read: a recreated object gives them to its owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Grant:
    """One privilege of one role on one object (or one column of it)."""

    object_kind: str  # TABLE, SEQUENCE, FUNCTION, TYPE
    object_name: str  # schema-qualified and quoted, as GRANT takes it
    privilege: str  # SELECT, INSERT, USAGE, EXECUTE, ...
    grantee: str  # a quoted role name, or PUBLIC
    grantable: bool
    column: str | None = None  # quoted, for a column privilege

    def statement(self) -> str:
        columns = f" ({self.column})" if self.column else ""
        option = " WITH GRANT OPTION" if self.grantable else ""
        return (
            f"GRANT {self.privilege}{columns} ON {self.object_kind} {self.object_name} "
            f"TO {self.grantee}{option}"
        )

    def exists_check(self) -> str:
        """An SQL expression that is true when the object exists (after a restore)."""
        literal = "'" + self.object_name.replace("'", "''") + "'"
        if self.object_kind == "FUNCTION":
            return f"to_regprocedure({literal}) IS NOT NULL"
        if self.object_kind == "TYPE":
            return f"to_regtype({literal}) IS NOT NULL"
        if self.column is not None:
            column = "'" + self.column.replace("'", "''") + "'"
            return (
                f"to_regclass({literal}) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_attribute "
                f"WHERE attrelid = to_regclass({literal}) AND NOT attisdropped "
                f"AND quote_ident(attname) = {column})"
            )
        return f"to_regclass({literal}) IS NOT NULL"


_ACL_QUERY = """
WITH objects AS (
    SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
           quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
           c.relowner AS owner, c.relacl AS acl, NULL::text AS col
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND c.relacl IS NOT NULL
    UNION ALL
    SELECT 'TABLE', quote_ident(n.nspname) || '.' || quote_ident(c.relname),
           c.relowner, a.attacl, quote_ident(a.attname)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND a.attacl IS NOT NULL AND a.attnum > 0
      AND NOT a.attisdropped
    UNION ALL
    SELECT 'FUNCTION', quote_ident(n.nspname) || '.' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           p.proowner, p.proacl, NULL
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = %(schema)s AND p.proacl IS NOT NULL AND p.prokind IN ('f', 'p')
    UNION ALL
    SELECT 'TYPE', quote_ident(n.nspname) || '.' || quote_ident(t.typname),
           t.typowner, t.typacl, NULL
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = %(schema)s AND t.typacl IS NOT NULL AND t.typtype IN ('e', 'd', 'r')
)
SELECT o.kind, o.name, acl.privilege_type,
       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
       acl.is_grantable, o.col
FROM objects o
CROSS JOIN LATERAL aclexplode(o.acl) acl
LEFT JOIN pg_roles r ON r.oid = acl.grantee
WHERE acl.grantee <> o.owner
  AND NOT (o.kind IN ('FUNCTION', 'TYPE') AND acl.grantee = 0
           AND acl.privilege_type IN ('EXECUTE', 'USAGE'))
ORDER BY 1, 2, 6 NULLS FIRST, 4, 3
"""


def read_grants(conn: Any, schema: str) -> list[Grant]:
    """Privileges that roles other than each object's owner hold on the schema's objects.

    ``EXECUTE``/``USAGE`` for PUBLIC on functions and types are left out: PostgreSQL
    grants them to every new function and type by default.
    """
    rows = conn.execute(_ACL_QUERY, {"schema": schema}).fetchall()
    return [
        Grant(
            object_kind=kind,
            object_name=name,
            privilege=privilege,
            grantee=grantee,
            grantable=bool(grantable),
            column=column,
        )
        for kind, name, privilege, grantee, grantable, column in rows
    ]


def reapply_sql(grants: list[Grant], *, tag: str = "lumidb_grants") -> str:
    """One SQL statement that grants each privilege again where its object still exists.

    It runs inside the caller's transaction (a restore's or a reset's), so the privileges
    come back with the new tables or not at all. Empty when there is nothing to grant.
    ``tag`` names the dollar quote; a restore passes a random one, so no object name
    can end the block early.
    """
    if not grants:
        return ""
    lines = [f"DO ${tag}$", "BEGIN"]
    for grant in grants:
        statement = grant.statement().replace("'", "''")
        lines.append(f"  IF {grant.exists_check()} THEN EXECUTE '{statement}'; END IF;")
    lines += ["END", f"${tag}$;"]
    return "\n".join(lines) + "\n"
