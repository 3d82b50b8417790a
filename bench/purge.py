"""Benchmark: ``lumidb purge`` in batches against the same statements in one transaction.

Usage::

    uv run python bench/purge.py --rows 100000 --rows 1000000

For each size, in one run, on a throwaway PostgreSQL 18 (lumidb's own ``EmbeddedServer``
in a fresh folder under ``/tmp``, removed at the end, also on Ctrl-C or SIGTERM):

1. fill the LumiAI tables with SQL ``generate_series``: ``rows`` soft-deleted rows, half
   users and half products, soft-deleted 40 days ago; 5 % of those users have an order
   (one item, on an active product; they are anonymised, not deleted), 0.2 % of those
   products are in an order item (kept); every soft-deleted user has a skin analysis;
   beside them 10 % as many active users and products, and anonymous scans. (``lumidb
   seed --scale`` from another piece of work may not be merged yet, hence SQL here.)
2. time ``lumidb.purge.purge`` with the default batch (5,000 rows per transaction, as
   ``lumidb purge --yes --no-safety-backup`` runs it): total and longest batch;
3. refill the same data and time the same plan and statements with a batch larger than
   the whole purge: one transaction (a plain ``DELETE`` would fail on RESTRICT).

The order of (2) and (3) alternates between sizes. Autovacuum is off; every timed run
starts after ``VACUUM ANALYZE`` and a ``CHECKPOINT``. Planning (the plan a person sees
before confirming) is timed apart: it is the same for both.

The goal (issue 14): no batch over about one second, total within 1.5x the single
transaction.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from lumidb.config import Environment
from lumidb.connection import DatabaseTarget
from lumidb.errors import LumidbError
from lumidb.purge import PurgeOptions, plan_purge, purge
from lumidb.server import EmbeddedServer
from lumidb.softdelete import Selection

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GOAL_BATCH_S = 1.0
GOAL_RATIO = 1.5

FILL = """
INSERT INTO products (id, sku, name, category, type, description, detail, price,
                      "isActive", "updatedAt")
SELECT 'p' || g, 'SKU-' || g, 'Product ' || g, 'MAKEUP', 'lipstick', 'A description',
       'Some detail', 499.00, g > %(active_products)s,
       TIMESTAMP '2026-10-11 12:00:00' - (g %% 1000) * INTERVAL '1 minute'
FROM generate_series(1, %(products)s) g;

INSERT INTO users (id, email, password, name, "isActive", "updatedAt")
SELECT 'u' || g, 'user' || g || '@example.test',
       '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', 'User ' || g,
       g > %(active_users)s, TIMESTAMP '2026-10-11 12:00:00' - (g %% 1000) * INTERVAL '1 minute'
FROM generate_series(1, %(users)s) g;

INSERT INTO orders (id, "orderNumber", "userId", subtotal, tax, shipping, total,
                    "shippingAddress", "billingAddress", "updatedAt")
SELECT 'o' || g, 'LUMI-' || g, 'u' || (g * 20), 499, 89.82, 0, 588.82,
       '12 MG Road, Bengaluru', '12 MG Road, Bengaluru', TIMESTAMP '2026-09-01'
FROM generate_series(1, %(soft_users)s / 20) g;

INSERT INTO order_items (id, "orderId", "productId", name, sku, price, quantity, subtotal)
SELECT 'i' || g, 'o' || g,
       CASE WHEN g %% 25 = 0 THEN 'p' || (g * 20) ELSE 'p' || (%(products)s - g %% 1000) END,
       'Product', 'SKU', 499, 1, 499
FROM generate_series(1, %(soft_users)s / 20) g;

INSERT INTO skin_analyses (id, "userId", tone, "skinType", "rgbR", "rgbG", "rgbB",
                           "imageUrl")
SELECT 's' || g, CASE WHEN g <= %(soft_users)s THEN 'u' || g END, 'WARM', 'DRY', 200, 160, 140,
       'https://cdn.example.test/scan/' || g || '.jpg'
FROM generate_series(1, %(soft_users)s + %(soft_users)s / 10) g;
"""


@dataclass
class Measured:
    rows: int
    mode: str
    batches: int
    total_s: float
    longest_s: float
    plan_s: float
    deleted: int
    anonymised: int


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def throwaway_server(root: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(root / "state")
    try:
        print(f"started a throwaway PostgreSQL at {server.ensure_running().url}", flush=True)
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()


def fill(conn: psycopg.Connection[Any], rows: int) -> None:
    soft_users = rows // 2
    soft_products = rows - soft_users
    conn.execute("TRUNCATE users, products, orders, order_items, skin_analyses")
    params = {
        "soft_users": soft_users,
        "active_users": soft_users,
        "users": soft_users + soft_users // 10,
        "active_products": soft_products,
        "products": soft_products + max(soft_products // 10, 1000),
    }
    for statement in FILL.split(";\n\n"):
        conn.execute(statement, params)
    conn.execute("VACUUM ANALYZE")
    conn.execute("CHECKPOINT")


def timed(target: DatabaseTarget, rows: int, mode: str) -> Measured:
    """Plan, then purge: in batches as the command does, or every statement in one transaction."""
    options = PurgeOptions(safety_backup=False, environment=Environment.DEVELOPMENT)
    t0 = time.monotonic()
    plan = plan_purge(target, Selection(), options, now=NOW)
    plan_s = time.monotonic() - t0
    if mode == "batched":
        result = purge(target, plan, options, now=NOW)
        return Measured(
            rows=rows,
            mode=mode,
            batches=result.batches,
            total_s=result.duration_seconds,
            longest_s=result.longest_batch_seconds,
            plan_s=plan_s,
            deleted=len(result.users_deleted) + len(result.products_deleted),
            anonymised=len(result.users_anonymised),
        )
    # The very statements of a batch (lumidb.purge's own), all rows, one transaction.
    from lumidb.connection import connect
    from lumidb.purge import _purge_products, _purge_users, _Run
    from lumidb.softdelete import db_time

    run = _Run()
    cutoff = datetime.fromisoformat(plan.cutoff.removesuffix("Z"))
    t0 = time.monotonic()
    with connect(target, autocommit=False) as conn, conn.transaction():
        _purge_users(
            conn, plan.users_delete + plan.users_anonymise, cutoff, db_time(NOW), False, run
        )
        _purge_products(conn, plan.products_delete, cutoff, run)
    total = time.monotonic() - t0
    return Measured(
        rows=rows,
        mode=mode,
        batches=1,
        total_s=round(total, 3),
        longest_s=round(total, 3),
        plan_s=plan_s,
        deleted=len(run.users_deleted) + len(run.products_deleted),
        anonymised=len(run.users_anonymised),
    )


def check(conn: psycopg.Connection[Any], rows: int) -> None:
    left = conn.execute(
        'SELECT (SELECT count(*) FROM users WHERE NOT "isActive" AND email NOT LIKE %s)'
        ' + (SELECT count(*) FROM products p WHERE NOT "isActive" AND NOT EXISTS '
        '(SELECT 1 FROM order_items i WHERE i."productId" = p.id))',
        ("deleted-%@invalid",),
    ).fetchone()
    orphans = conn.execute('SELECT count(*) FROM skin_analyses WHERE "userId" IS NULL').fetchone()
    if not left or left[0] or not orphans or orphans[0] != (rows // 2) // 10:
        raise SystemExit(f"purge left work undone or scans without owner: {left}, {orphans}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, action="append", help="soft-deleted rows (repeatable)")
    args = parser.parse_args()
    sizes = args.rows or [100_000]
    signal.signal(signal.SIGTERM, _sigterm)
    root = Path(tempfile.mkdtemp(prefix="lumidb-bench-purge-", dir="/tmp"))
    results: list[Measured] = []
    started = time.monotonic()
    try:
        with throwaway_server(root) as server:
            from lumidb import migrations

            target = server.target()
            migrations.deploy(target, environment=Environment.DEVELOPMENT, lock_timeout=30)
            conninfo = f"postgresql://{target.user}@{target.host}:{target.port}/{target.dbname}"
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET autovacuum = off")
                conn.execute("SELECT pg_reload_conf()")
                version = conn.execute("SHOW server_version").fetchone()
                for index, rows in enumerate(sizes):
                    modes = ["batched", "one transaction"]
                    if index % 2:
                        modes.reverse()
                    for mode in modes:
                        t0 = time.monotonic()
                        fill(conn, rows)
                        print(f"{rows:,} rows: filled in {time.monotonic() - t0:.1f}s", flush=True)
                        measured = timed(target, rows, mode)
                        check(conn, rows)
                        print(f"  {mode}: {measured}", flush=True)
                        results.append(measured)
    except (KeyboardInterrupt, LumidbError) as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(
        "| soft-deleted rows | mode | batches | total s | longest batch s | plan s | "
        "deleted | anonymised | total / one transaction |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in results:
        single = next(r for r in results if r.rows == m.rows and r.mode == "one transaction")
        ratio = m.total_s / single.total_s if single.total_s else float("nan")
        print(
            f"| {m.rows:,} | {m.mode} | {m.batches} | {m.total_s:.2f} | {m.longest_s:.2f} | "
            f"{m.plan_s:.2f} | {m.deleted:,} | {m.anonymised:,} | {ratio:.2f} |"
        )
    print()
    print(
        f"machine: {os.cpu_count()} CPU, {platform.platform()}, Python "
        f"{platform.python_version()}, PostgreSQL {version[0] if version else '?'}; "
        f"load average now {os.getloadavg()[0]:.2f}; whole run {time.monotonic() - started:.0f}s"
    )
    for m in results:
        if m.mode == "batched":
            single = next(r for r in results if r.rows == m.rows and r.mode != "batched")
            ok_batch = m.longest_s <= GOAL_BATCH_S
            ok_ratio = m.total_s <= GOAL_RATIO * single.total_s
            print(
                f"goal at {m.rows:,}: longest batch <= {GOAL_BATCH_S}s "
                f"{'met' if ok_batch else 'MISSED'}, total <= {GOAL_RATIO}x one transaction "
                f"{'met' if ok_ratio else 'MISSED'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
