"""The checks a restore runs before its COMMIT, in the same transaction, and the SQL around the dump.

Before the load, lumidb reads what must not change: a fingerprint of every schema but
the target's (its tables, columns, types, routines, constraints, triggers, view bodies,
comments, owners and privileges; the ``lumidb`` schema included), the environment
record, and the other roles' grants on the target's objects; before COMMIT it also
refuses rows written anywhere but the target in the restore's own transaction. After the dump it sends the grants back and one
``DO`` block that compares; any difference raises, psql stops, and the server rolls
the whole transaction back, so COMMIT is never reached.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lumidb.connection import quote_ident
from lumidb.guard import RECORD_SCHEMA

if TYPE_CHECKING:
    from lumidb.grants import Grant

ENVIRONMENT_TABLE = f"{RECORD_SCHEMA}.environment"


def literal(text: str) -> str:
    """An SQL string literal (standard_conforming_strings is on: the filter insists)."""
    return "'" + text.replace("'", "''") + "'"


def fingerprint_query(schema: str) -> str:
    """(schema, md5) for every schema but ``schema``: what a restore must leave as it is."""
    return f"""
SELECT s, pg_catalog.md5(pg_catalog.string_agg(d, '|' ORDER BY d)) FROM (
  SELECT n.nspname AS s,
         'schema:' || n.nspowner::text || ':' || coalesce(n.nspacl::text, '') AS d
  FROM pg_catalog.pg_namespace n
  UNION ALL
  SELECT n.nspname, 'rel:' || c.relname || ':' || c.relkind::text || ':' || c.relowner::text
         || ':' || coalesce(c.relacl::text, '') || ':' || c.relnatts::text || ':' || c.relchecks::text
         || ':' || c.relhastriggers::text || ':' || c.relrowsecurity::text || ':' || c.relhasrules::text
         || ':' || c.relpersistence::text || ':' || c.relreplident::text
         || ':' || coalesce(c.reloptions::text, '')
         || ':' || CASE WHEN c.relkind IN ('v', 'm')
                        THEN pg_catalog.md5(pg_catalog.pg_get_viewdef(c.oid)) ELSE '' END
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  UNION ALL
  SELECT n.nspname, 'comment:' || d.classoid::regclass::text || ':' || d.objoid::text || ':'
         || d.objsubid::text || ':' || pg_catalog.md5(d.description)
  FROM pg_catalog.pg_description d
  JOIN pg_catalog.pg_namespace n ON n.oid = CASE d.classoid
    WHEN 'pg_catalog.pg_class'::regclass
      THEN (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = d.objoid)
    WHEN 'pg_catalog.pg_proc'::regclass
      THEN (SELECT p.pronamespace FROM pg_catalog.pg_proc p WHERE p.oid = d.objoid)
    WHEN 'pg_catalog.pg_type'::regclass
      THEN (SELECT t.typnamespace FROM pg_catalog.pg_type t WHERE t.oid = d.objoid)
    WHEN 'pg_catalog.pg_constraint'::regclass
      THEN (SELECT co.connamespace FROM pg_catalog.pg_constraint co WHERE co.oid = d.objoid)
    WHEN 'pg_catalog.pg_trigger'::regclass
      THEN (SELECT c.relnamespace FROM pg_catalog.pg_trigger tg
            JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid WHERE tg.oid = d.objoid)
    WHEN 'pg_catalog.pg_namespace'::regclass THEN d.objoid
    END
  UNION ALL
  SELECT n.nspname, 'att:' || c.relname || ':' || a.attname || ':' || a.atttypid::text
         || ':' || a.attnotnull::text
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT n.nspname, 'type:' || t.typname || ':' || t.typowner::text
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  UNION ALL
  SELECT n.nspname, 'proc:' || p.proname || '('
         || pg_catalog.pg_get_function_identity_arguments(p.oid) || '):'
         || pg_catalog.md5(coalesce(p.prosrc, '')) || ':' || p.prosecdef::text || ':'
         || p.proowner::text || ':' || coalesce(p.proacl::text, '')
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  UNION ALL
  SELECT n.nspname, 'con:' || co.conname || ':' || co.contype::text
  FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_namespace n ON n.oid = co.connamespace
  UNION ALL
  SELECT n.nspname, 'trg:' || c.relname || ':' || tg.tgname || ':' || tg.tgenabled::text
  FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  UNION ALL
  SELECT n.nspname, 'default:' || c.relname || ':' || ad.adnum::text || ':'
         || pg_catalog.md5(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
  FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  UNION ALL
  SELECT n.nspname, 'policy:' || c.relname || ':' || po.polname || ':'
         || pg_catalog.md5(coalesce(pg_catalog.pg_get_expr(po.polqual, po.polrelid), '')
                           || coalesce(pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid), ''))
  FROM pg_catalog.pg_policy po JOIN pg_catalog.pg_class c ON c.oid = po.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  UNION ALL
  SELECT n.nspname, 'ext:' || e.extname || ':' || e.extversion
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
  UNION ALL
  SELECT '(database)', 'event trigger:' || ev.evtname || ':' || ev.evtenabled::text
  FROM pg_catalog.pg_event_trigger ev
  UNION ALL
  SELECT '(database)', 'publication:' || pb.pubname FROM pg_catalog.pg_publication pb
) f
WHERE s <> {literal(schema)} AND s <> 'pg_toast'
  AND s NOT LIKE 'pg\\_temp\\_%' AND s NOT LIKE 'pg\\_toast\\_temp\\_%'
GROUP BY s"""


ENVIRONMENT_DIGEST = (
    "SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(e::text, '|' ORDER BY e::text), ''))"
    f" FROM {ENVIRONMENT_TABLE} e"
)


@dataclass(frozen=True)
class Untouchable:
    """What the restore must leave as it found it, read before the load."""

    schemas: dict[str, str]  # schema -> fingerprint
    environment: str | None  # digest of the environment record, None when there is none


def read_untouchable(conn: Any, schema: str) -> Untouchable:
    schemas = {str(s): str(h) for s, h in conn.execute(fingerprint_query(schema)).fetchall()}
    exists = conn.execute(
        f"SELECT pg_catalog.to_regclass({literal(ENVIRONMENT_TABLE)}) IS NOT NULL"
    ).fetchone()
    environment = None
    if exists and exists[0]:
        row = conn.execute(ENVIRONMENT_DIGEST).fetchone()
        environment = str(row[0]) if row else None
    return Untouchable(schemas=schemas, environment=environment)


def bare_table(name: str, schema: str) -> str:
    """A manifest's table key (``users``, ``public.users``, ``"public"."Order"``) → ``Order``."""
    name = name.removeprefix(schema + ".").removeprefix(f'"{schema}".')
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def check_sql(untouchable: Untouchable, schema: str, expected_rows: dict[str, int] | None) -> str:
    """One DO block that raises when anything it guards changed; run just before COMMIT."""
    import json

    tag = f"$lumidb_check_{secrets.token_hex(8)}$"
    expected = literal(json.dumps(untouchable.schemas, sort_keys=True))
    environment = "NULL" if untouchable.environment is None else literal(untouchable.environment)
    lines = [
        f"DO {tag}",
        "DECLARE problems text[] := '{}'; changed text; env text; n bigint;",
        "BEGIN",
        "  SELECT pg_catalog.string_agg(coalesce(cur.s, before.key), ', '",
        "    ORDER BY coalesce(cur.s, before.key)) INTO changed",
        f"  FROM ({fingerprint_query(schema)}) cur(s, h)",
        f"  FULL JOIN pg_catalog.jsonb_each_text({expected}::jsonb) before",
        "    ON before.key = cur.s",
        "  WHERE cur.h IS DISTINCT FROM before.value;",
        "  IF changed IS NOT NULL THEN",
        "    problems := problems || ('schemas other than the target''s changed: ' || changed);",
        "  END IF;",
        f"  IF pg_catalog.to_regclass({literal(ENVIRONMENT_TABLE)}) IS NOT NULL THEN",
        f"    EXECUTE {literal(ENVIRONMENT_DIGEST)} INTO env;",
        "  END IF;",
        f"  IF env IS DISTINCT FROM {environment} THEN",
        "    problems := problems || 'the environment record (lumidb.environment) changed'::text;",
        "  END IF;",
        # Rows written in this transaction anywhere but the target (by a function or a
        # trigger the backup defined): the statistics of the transaction itself say so.
        "  SELECT pg_catalog.string_agg(DISTINCT w.schemaname || '.' || w.relname, ', ')",
        "    INTO changed FROM pg_catalog.pg_stat_xact_all_tables w",
        f"  WHERE w.schemaname <> {literal(schema)}",
        "    AND w.schemaname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
        "    AND w.schemaname NOT LIKE 'pg\\_temp\\_%'",
        "    AND w.schemaname NOT LIKE 'pg\\_toast\\_temp\\_%'",
        "    AND w.n_tup_ins + w.n_tup_upd + w.n_tup_del > 0;",
        "  IF changed IS NOT NULL THEN",
        "    problems := problems || ('rows outside the target schema were written: ' || changed);",
        "  END IF;",
    ]
    for table, rows in sorted((expected_rows or {}).items()):
        bare = bare_table(str(table), schema)
        qualified = f"{quote_ident(schema)}.{quote_ident(bare)}"
        lines += [
            f"  IF pg_catalog.to_regclass({literal(qualified)}) IS NULL THEN",
            f"    problems := problems || {literal(f'table {bare}: in the manifest, missing')};",
            "  ELSE",
            f"    EXECUTE {literal(f'SELECT pg_catalog.count(*) FROM {qualified}')} INTO n;",
            f"    IF n <> {int(rows)} THEN",
            f"      problems := problems || ({literal(f'table {bare}: the manifest says {int(rows)} rows, the restore has ')} || n);",
            "    END IF;",
            "  END IF;",
        ]
    lines += [
        "  IF pg_catalog.cardinality(problems) > 0 THEN",
        "    RAISE EXCEPTION 'lumidb check before COMMIT: %',",
        "      pg_catalog.array_to_string(problems, '; ');",
        "  END IF;",
        "END",
        f"{tag};",
    ]
    return "\n".join(lines) + "\n"


def restrict_supported(version: str) -> bool:
    """Whether this psql knows ``\\restrict`` (18, 17.6, 16.10, 15.14, 14.19, 13.22 and later)."""
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return False
    first = {17: 6, 16: 10, 15: 14, 14: 19, 13: 22}
    return major >= 18 or (major in first and minor >= first[major])


def restrict_line() -> str:
    """lumidb's own ``\\restrict``: from here on psql itself refuses every meta-command."""
    return f"\\restrict {secrets.token_hex(16)}\n"


def preamble(schema: str, *, create_schema: bool, clear_sql: list[str], restrict: bool) -> bytes:
    """Before the dump: lumidb's ``\\restrict`` (where psql knows it), ``BEGIN``, the clearing."""
    lines = [restrict_line().rstrip("\n")] if restrict else []
    # psql lexes strings by the server's standard_conforming_strings: on, as the filter does.
    lines += [
        "BEGIN;",
        "SET client_min_messages = warning;",
        "SET standard_conforming_strings = on;",
    ]
    if create_schema:
        lines.append(f"CREATE SCHEMA {quote_ident(schema)};")
    lines += clear_sql
    return ("\n".join(lines) + "\n").encode()


def postamble(
    untouchable: Untouchable,
    grants: list[Grant],
    schema: str,
    expected_rows: dict[str, int] | None,
) -> bytes:
    """After the dump, before COMMIT: the grants back, then the checks (they raise on a change)."""
    from lumidb.grants import reapply_sql

    text = "\nSET LOCAL search_path = pg_catalog, pg_temp;\n"
    text += reapply_sql(grants, tag=f"lumidb_grants_{secrets.token_hex(8)}")
    text += check_sql(untouchable, schema, expected_rows)
    return text.encode()
