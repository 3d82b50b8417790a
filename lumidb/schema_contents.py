"""What a schema holds and who holds it: DROP statements for its objects, and the sessions on it.

``restore-latest`` and ``reset`` both replace everything of the application's schema in
one transaction: they drop its objects (``clearing_statements``) and, when asked, end the
application's sessions first (``terminate_sessions``); when they wait too long for a lock
they say so and name who holds it (``lock_wait_error``). Each takes the caller's open
connection. The ``lumidb`` schema is never touched.
"""

from __future__ import annotations

from typing import Any

from lumidb.errors import OperationError
from lumidb.locks import describe_session

APPLICATION_NAME = "lumidb"


_OTHER_SESSIONS = """
    SELECT pid, coalesce(application_name, ''), coalesce(client_addr::text, 'local'), usename
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'
      AND coalesce(application_name, '') NOT LIKE 'lumidb%%'
    ORDER BY pid
"""


def other_sessions(conn: Any) -> list[tuple[int, str]]:
    """The application's sessions on the database (lumidb's own left out): pid, description."""
    return [
        (pid, describe_session(pid, app, user, addr))
        for pid, app, addr, user in conn.execute(_OTHER_SESSIONS).fetchall()
    ]


def terminate_sessions(conn: Any, purpose: str = "restore") -> list[str]:
    """End the other sessions on ``conn``'s database (lumidb's own are kept)."""
    import psycopg

    ended: list[str] = []
    for pid, described in other_sessions(conn):
        try:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        except psycopg.Error as exc:
            raise OperationError(
                f"cannot end session {described}: {str(exc).strip().splitlines()[0]}",
                hint=f"end it as its owner or a superuser, then run the {purpose} again",
            ) from None
        ended.append(described)
    return ended


def blocking_sessions(conn: Any, schema: str) -> list[str]:
    """Other sessions holding locks on the schema's tables: what a restore or reset waited for."""
    rows = conn.execute(
        """
        SELECT DISTINCT a.pid, coalesce(a.application_name, ''),
               coalesce(a.client_addr::text, 'local'), a.usename, a.state
        FROM pg_locks l
        JOIN pg_class c ON c.oid = l.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.granted AND n.nspname = %s AND a.datname = current_database()
          AND a.pid <> pg_backend_pid()
        ORDER BY a.pid
        """,
        (schema,),
    ).fetchall()
    return [describe_session(pid, app, user, addr, state) for pid, app, addr, user, state in rows]


def lock_wait_error(
    conn: Any, schema: str, *, who: str, waited: float, setting: str | None = None
) -> OperationError:
    """The error of a ``who`` (``"the restore"``, ``"reset"``) that waited too long for locks.

    It names the sessions holding locks on ``schema`` now (asked on ``conn``) and says
    what to do; ``setting`` is the variable that sets the wait, when there is one.
    """
    blockers = blocking_sessions(conn, schema)
    hint = "end those sessions, or rerun with --terminate-connections"
    if setting is not None:
        hint += f" ({setting} sets the wait)"
    return OperationError(
        f"{who} waited {waited:g}s for locks held by other sessions and was rolled back; "
        f"nothing changed. Blocking: {'; '.join(blockers) or 'gone by now'}",
        hint=hint,
    )


def clearing_statements(conn: Any, schema: str) -> list[str]:
    """``DROP`` statements for every object of the schema (extension members excepted).

    The schema itself stays, with its owner and grants: a role that owns the tables
    but not the schema can restore, and other roles keep their access to it.
    """
    not_extension = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {catalog}::regclass
                       AND d.objid = {oid} AND d.deptype = 'e')"""
    relations = conn.execute(
        f"""
        SELECT c.relkind, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND NOT c.relispartition
          AND {not_extension.format(catalog="'pg_class'", oid="c.oid")}
        ORDER BY c.relkind DESC, c.relname
        """,
        (schema,),
    ).fetchall()
    types = conn.execute(
        f"""
        SELECT t.typtype, quote_ident(n.nspname) || '.' || quote_ident(t.typname)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %s AND t.typtype IN ('e', 'd', 'r', 'c')
          AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND {not_extension.format(catalog="'pg_type'", oid="t.oid")}
        ORDER BY t.typname
        """,
        (schema,),
    ).fetchall()
    routines = conn.execute(
        f"""
        SELECT p.prokind, quote_ident(n.nspname) || '.' || quote_ident(p.proname)
               || '(' || pg_get_function_identity_arguments(p.oid) || ')'
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %s
          AND {not_extension.format(catalog="'pg_proc'", oid="p.oid")}
        ORDER BY p.proname
        """,
        (schema,),
    ).fetchall()
    relation_kinds = {
        "v": "VIEW",
        "m": "MATERIALIZED VIEW",
        "r": "TABLE",
        "p": "TABLE",
        "f": "FOREIGN TABLE",
        "S": "SEQUENCE",
    }
    routine_kinds = {"a": "AGGREGATE", "p": "PROCEDURE"}
    statements = [f"DROP {relation_kinds[k]} IF EXISTS {name} CASCADE;" for k, name in relations]
    statements += [
        f"DROP {'DOMAIN' if k == 'd' else 'TYPE'} IF EXISTS {name} CASCADE;" for k, name in types
    ]
    statements += [
        f"DROP {routine_kinds.get(k, 'FUNCTION')} IF EXISTS {name} CASCADE;" for k, name in routines
    ]
    return statements
