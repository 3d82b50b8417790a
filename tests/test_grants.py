"""lumidb/grants.py: other roles' privileges are read and given back after objects are recreated."""

from __future__ import annotations

import psycopg

from lumidb.connection import DatabaseTarget
from lumidb.grants import read_grants, reapply_sql


def test_grants_survive_a_drop_and_recreate(db: DatabaseTarget, app_server: object) -> None:
    server = app_server
    server.create_role("reporting", "reporting-pw-1")  # type: ignore[attr-defined]
    with psycopg.connect(autocommit=True, **db.conninfo_params()) as conn:
        conn.execute("GRANT SELECT ON users TO reporting")
        conn.execute('GRANT UPDATE ("ratingAvg") ON products TO reporting')
        conn.execute("GRANT INSERT ON orders TO PUBLIC")
        grants = read_grants(conn, "public")
        statements = sorted(g.statement() for g in grants)
        assert statements == [
            "GRANT INSERT ON TABLE public.orders TO PUBLIC",
            "GRANT SELECT ON TABLE public.users TO reporting",
            'GRANT UPDATE ("ratingAvg") ON TABLE public.products TO reporting',
        ]
        with conn.transaction():
            conn.execute("DROP TABLE order_items, orders")
            conn.execute("ALTER TABLE users RENAME TO users_old")
            conn.execute("CREATE TABLE users (id text)")
            conn.execute(reapply_sql(grants))  # orders is gone: its grant is skipped
        after = sorted(g.statement() for g in read_grants(conn, "public"))
        assert after == [
            "GRANT SELECT ON TABLE public.users TO reporting",
            "GRANT SELECT ON TABLE public.users_old TO reporting",
            'GRANT UPDATE ("ratingAvg") ON TABLE public.products TO reporting',
        ]
    assert reapply_sql([]) == ""
