"""Benchmark: ``lumidb seed --scale N`` against psql ``\\copy`` and a naive SQLAlchemy ORM insert.

Usage::

    uv run python bench/seed_scale.py --sizes 10000,100000,1000000

For each N it starts from a freshly migrated database on a throwaway PostgreSQL 18
(lumidb's own ``EmbeddedServer``, in a folder under ``/tmp``) and measures:

* lumidb: ``lumidb.scale.seed_scale`` (what ``lumidb seed --scale N`` runs), generation
  of the rows included, in rows per second over all five tables;
* the floor: the same rows, written beforehand (untimed) into CSV files with
  ``COPY ... TO``, loaded into another freshly migrated database by one
  ``psql -1 -c '\\copy ... FROM file CSV'`` run per table set;
* at N = 10,000 only, a naive SQLAlchemy ORM insert of the same rows (one object per
  row, ``session.add``, one commit at the end).

It prints a Markdown table (the one in BENCHMARKS.md) and stops the server at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from lumidb import migrations
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget
from lumidb.scale import seed_scale
from lumidb.server import EmbeddedServer, bundled_bin_dir

TABLES = ("users", "products", "orders", "order_items", "skin_analyses")
NOW = datetime(2026, 11, 20, tzinfo=UTC)


@contextlib.contextmanager
def throwaway_server(root: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(root / "state")
    try:
        server.ensure_running()
        yield server
    finally:
        server.stop()


def fresh_database(server: EmbeddedServer, name: str) -> DatabaseTarget:
    base = server.target()
    with psycopg.connect(autocommit=True, **base.conninfo_params("bench")) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    target = base.for_database(name)
    migrations.deploy(target, environment=Environment.DEVELOPMENT, lock_timeout=30)
    return target


def checkpoint(target: DatabaseTarget) -> None:
    with psycopg.connect(autocommit=True, **target.conninfo_params("bench")) as conn:
        conn.execute("CHECKPOINT")


def export_csv(target: DatabaseTarget, folder: Path) -> dict[str, Path]:
    files = {}
    with psycopg.connect(autocommit=True, **target.conninfo_params("bench")) as conn:
        for table in TABLES:
            path = folder / f"{table}.csv"
            with (
                path.open("wb") as out,
                conn.cursor().copy(f"COPY {table} TO STDOUT WITH (FORMAT csv)") as copy,
            ):
                for block in copy:
                    out.write(block)
            files[table] = path
    return files


def psql_copy(target: DatabaseTarget, files: dict[str, Path]) -> float:
    args = [str(bundled_bin_dir() / "psql"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1"]
    for table in TABLES:  # products before order_items: same order as lumidb
        args += ["-c", f"\\copy {table} FROM '{files[table]}' WITH (FORMAT csv)"]
    args.append(f"--dbname={target.child_dsn()}")
    started = time.perf_counter()
    subprocess.run(args, env=target.child_env("bench"), check=True)
    return time.perf_counter() - started


def orm_insert(source: DatabaseTarget, target: DatabaseTarget) -> tuple[float, int]:
    from sqlalchemy.orm import Session

    from lumidb.connection import make_engine
    from lumidb.schema import models

    classes = {
        "users": models.User,
        "products": models.Product,
        "orders": models.Order,
        "order_items": models.OrderItem,
        "skin_analyses": models.SkinAnalysis,
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(autocommit=True, **source.conninfo_params("bench")) as conn:
        for table in TABLES:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            rows[table] = cur.execute(f"SELECT * FROM {table}").fetchall()
    engine = make_engine(target)
    total = sum(len(r) for r in rows.values())
    started = time.perf_counter()
    with Session(engine) as session:
        for table in TABLES:
            model = classes[table]
            names = [(a.key, a.columns[0].name) for a in model.__mapper__.column_attrs]
            for row in rows[table]:
                session.add(model(**{key: row[column] for key, column in names}))
            session.flush()
        session.commit()
    engine.dispose()
    return time.perf_counter() - started, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated N values")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# {platform.platform()}, {platform.python_version()}", file=sys.stderr)
    lines = [
        "| N users | rows | items | lumidb s | lumidb rows/s | psql \\copy s | \\copy rows/s "
        "| lumidb / \\copy | ORM s | ORM rows/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="lumidb-bench-seed-", dir="/tmp") as tmp,
        throwaway_server(Path(tmp)) as server,
    ):
        for n in sizes:
            target = fresh_database(server, f"scale_{n}")
            checkpoint(target)
            result = seed_scale(
                target,
                count=n,
                random_seed=1,
                now=NOW,
                environment=Environment.DEVELOPMENT,
                lock_timeout=30,
            )
            files = export_csv(target, Path(tmp))
            floor = fresh_database(server, f"floor_{n}")
            checkpoint(floor)
            copy_s = psql_copy(floor, files)
            orm = ""
            if n == 10_000:
                naive = fresh_database(server, f"orm_{n}")
                orm_s, orm_rows = orm_insert(target, naive)
                orm = f"{orm_s:.2f} | {orm_rows / orm_s:,.0f}"
            else:
                orm = "- | -"
            ratio = (result.rows / result.seconds) / (result.rows / copy_s)
            lines.append(
                f"| {n:,} | {result.rows:,} | {result.order_items:,} | {result.seconds:.2f} | "
                f"{result.rows_per_second:,.0f} | {copy_s:.2f} | {result.rows / copy_s:,.0f} | "
                f"{ratio:.2f} | {orm} |"
            )
            print(lines[-1], file=sys.stderr)
            for path in files.values():
                path.unlink()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
