"""Speed of the restore's stream filter (``lumidb.dump_stream.DumpFilter``), no database needed.

Prints MB/s for three made-up dumps fed in 1 MiB chunks, as a restore feeds it: a
normal dump (many short COPY rows and statements), one 300 MB COPY row, and one
300 MB SQL line (a long quoted literal). Linear means the three stay in the same range;
a quadratic filter falls off a cliff on the long lines (issue 12, finding 9).

    uv run python bench/restore_filter.py [--mb 300]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

from lumidb.dump_filter import DumpFilter

CHUNK = 1 << 20
HEADER = (
    b"SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n"
    b"SET standard_conforming_strings = on;\n"
    b"SELECT pg_catalog.set_config('search_path', '', false);\n"
)
FOOTER = b"\n-- PostgreSQL database dump complete\n"


def normal(mb: int) -> Iterator[bytes]:
    yield HEADER + b"CREATE TABLE public.users (\n    id text NOT NULL,\n    name text\n);\n"
    yield b"COPY public.users (id, name) FROM stdin;\n"
    row = b"u123456\tsome name that is about this long, with a tab\\tescape\n"
    block = row * (CHUNK // len(row))
    for _ in range(mb):
        yield block
    yield b"\\.\n"
    statement = b"ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n"
    yield statement * 1000 + FOOTER


def long_copy_row(mb: int) -> Iterator[bytes]:
    yield HEADER + b"COPY public.notes (body) FROM stdin;\n"
    piece = b"x" * CHUNK
    for _ in range(mb):
        yield piece
    yield b"\n\\.\n" + FOOTER


def long_sql_line(mb: int) -> Iterator[bytes]:
    yield HEADER + b"COMMENT ON TABLE public.notes IS '"
    piece = b"y" * CHUNK
    for _ in range(mb):
        yield piece
    yield b"';\n" + FOOTER


def measure(name: str, chunks: Iterator[bytes]) -> None:
    dump_filter = DumpFilter(
        known_settings=frozenset(
            {"statement_timeout", "client_encoding", "standard_conforming_strings"}
        ),
        existing_schemas=frozenset({"public"}),
    )
    size = 0
    started = time.perf_counter()
    for chunk in chunks:
        size += len(chunk)
        dump_filter.feed(chunk)
    dump_filter.finish()
    seconds = time.perf_counter() - started
    assert dump_filter.complete and dump_filter.at_rest
    print(f"{name:16} {size / 1e6:8.0f} MB in {seconds:6.2f} s = {size / 1e6 / seconds:8.0f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="size of each made-up dump")
    mb = parser.parse_args().mb
    measure("normal dump", normal(mb))
    measure("long COPY row", long_copy_row(mb))
    measure("long SQL line", long_sql_line(mb))


if __name__ == "__main__":
    main()
