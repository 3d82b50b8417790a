"""Benchmark for issue 17 ("Speed"): every goal, lumidb beside the bare command, in one run.

Usage::

    uv run python bench/speed.py                                    # the issue's sizes
    uv run python bench/speed.py --size-mb 30 --sizes 10,30 --pairs 3  # a quick look

lumidb is run as a new user runs it: the repository's committed ``HEAD`` (``--source``)
is cloned into a temporary folder and installed there with ``uv sync --frozen --no-dev
--no-editable --compile-bytecode``; uncommitted changes are not measured. One throwaway
PostgreSQL 18 (lumidb's ``EmbeddedServer`` under ``/tmp``) serves everything; the data
and most mechanics (filling, the bare pipelines, the untimed check / ``VACUUM`` /
``CHECKPOINT`` around each timed step) come from ``bench/backup_restore.py``. The bare
commands use the PostgreSQL 18 client programs bundled in that clean install (the ones
lumidb picks for a PostgreSQL 18 server) and the ``zstd`` command-line program.

Every comparison is ``--pairs`` pairs, the order alternating (lumidb first, then bare
first, ...); it prints both medians, the ratio of the medians and the min / median / max
of the per-pair ratios and the client CPU (user + sys of lumidb and its children, or of
the bare pipeline), as a Markdown table for BENCHMARKS.md. The start-up and
empty-database comparisons, and each size, begin with an untimed warm-up run of lumidb.
Everything created is removed at the end.
``bench/speed_setup.py`` holds the setup (clean install, data, fake backups),
``bench/speed_tables.py`` the rows and tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import backup_restore as br
import psycopg
import speed_setup as setup
from speed_tables import HEADER, Row, curve_table, table

FIXED_GOAL = 0.15  # seconds, the fixed cost of a command (issue 17, goal 1)
FAKE_BACKUPS = 500


def pairs(
    row: Row,
    count: int,
    lumidb: Callable[[], tuple[float, float]],
    bare: Callable[[], tuple[float, float]],
    say: Callable[[str], None],
) -> Row:
    """Time ``count`` pairs, alternating which side goes first; each returns (seconds, CPU)."""
    for number in range(count):
        sides = [("lumidb", lumidb), ("bare", bare)]
        if number % 2:
            sides.reverse()
        for side, operation in sides:
            seconds, cpu = operation()
            (row.lumidb if side == "lumidb" else row.bare).append(seconds)
            (row.lumidb_cpu if side == "lumidb" else row.bare_cpu).append(cpu)
            say(f"    {row.operation} [{row.size}] {side}: {seconds:.3f} s")
    return row


def timed_db(
    bench: br.Bench, operation: Callable[[], None], rewrites: bool
) -> Callable[[], tuple[float, float]]:
    """A timed database operation: CHECKPOINT before; check, VACUUM, CHECKPOINT after."""
    return lambda: br._timed(bench, operation, rewrites=rewrites)


def timed_command(command: Sequence[str], env: dict[str, str]) -> Callable[[], tuple[float, float]]:
    """A timed process that must exit 0 (its output is discarded); (seconds, its CPU)."""

    def go() -> tuple[float, float]:
        cpu = br._children_cpu()
        started = time.perf_counter()
        result = subprocess.run(list(command), env=env, capture_output=True, check=False)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise br.BenchError(f"{' '.join(command)} exited {result.returncode}: {tail}")
        return seconds, br._children_cpu() - cpu

    go()  # warm-up, untimed
    return go


# --- the measurements -------------------------------------------------------------------

PLAIN_BACKUP = "`pg_dump … \\| zstd -3 > file`"
PSQL_RESTORE = "`zstd -dc file \\| psql -1 -v ON_ERROR_STOP=1`"


def measure_size(
    bench: br.Bench, size: str, n: int, full: bool, say: Callable[[str], None]
) -> list[Row]:
    """At one database size: the plain backup; with ``full`` the custom backup and restores."""
    bench.lumidb_backup_plain()  # warm-up, untimed (the page cache too, for both sides)
    bench.clear_outputs()
    rows = [
        pairs(
            Row("`lumidb backup --quiet` (plain, zstd)", size, PLAIN_BACKUP, "≤ 1.05", 1.05),
            n,
            timed_db(bench, bench.lumidb_backup_plain, False),
            timed_db(bench, bench.bare_backup_plain, False),
            say,
        )
    ]
    if not full:
        return rows
    rows.append(
        pairs(
            Row("`lumidb backup --format custom --quiet`", size, "`pg_dump -Fc …`", "≤ 1.05", 1.05),
            n,
            timed_db(bench, bench.lumidb_backup_custom, False),
            timed_db(bench, bench.bare_backup_custom, False),
            say,
        )
    )
    setup.source_backups(bench, custom=True)
    custom = str(bench.custom_source)
    restore_custom = ["restore-latest", "--yes", "--no-safety-backup", "--file", custom, "-q"]
    for row, lumidb, bare in (
        (
            Row(
                "`restore-latest --yes --no-safety-backup` (plain)",
                size,
                PSQL_RESTORE,
                "≤ 1.05",
                1.05,
            ),
            bench.lumidb_restore_plain,
            bench.bare_restore_plain,
        ),
        (
            Row(
                "`restore-latest --yes --no-safety-backup --file <custom>`",
                size,
                "`pg_restore --single-transaction --clean --if-exists`",
                "≤ 1.05",
                1.05,
            ),
            lambda: bench.run_lumidb(restore_custom, bench.source_dir),
            lambda: setup.bare_restore_custom_single(bench),
        ),
        (
            Row(
                "`restore-latest --yes` (default: safety backup first)",
                size,
                PSQL_RESTORE,
                "≤ 0.77",
                0.77,
            ),
            bench.lumidb_restore_plain_default,
            bench.bare_restore_plain,
        ),
    ):
        rows.append(pairs(row, n, timed_db(bench, lumidb, True), timed_db(bench, bare, True), say))
    return rows


def measure_fixed(
    bench: br.Bench, root: Path, bin_dir: Path, n: int, say: Callable[[str], None]
) -> list[Row]:
    """Start-up and the fixed cost of commands on an empty (migrated) database; growth."""
    hello = root / "hello_typer.py"
    hello.write_text(setup.HELLO_APP)
    python = str(bin_dir / "python")
    env = bench.lumidb_env(bench.source_dir)
    rows = []
    for flag in ("--help", "--version"):
        rows.append(
            pairs(
                Row(f"`lumidb {flag}`", "—", f"`python hello_typer.py {flag}`", "≤ 1.10", 1.10),
                n,
                timed_command([str(bench.lumidb), flag], env),
                timed_command([python, str(hello), flag], env),
                say,
            )
        )
    with psycopg.connect(bench.conninfo, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_empty")
    empty = dataclasses.replace(
        bench,
        root=root / "empty",
        conninfo=setup.with_database(bench.conninfo, "bench_empty"),
        lumidb_url=setup.with_database(bench.lumidb_url, "bench_empty"),
    )
    empty.root.mkdir()
    empty.bare_dir.mkdir()
    empty.run_lumidb(["migrate", "deploy", "--quiet"], empty.source_dir)
    empty.expected_counts = br.row_counts(empty.conninfo)
    setup.source_backups(empty, custom=False)
    absolute = f"< {FIXED_GOAL} s (lumidb alone)"
    for operation, lumidb, bare, label, rewrites in (
        (
            "`lumidb backup --quiet`",
            empty.lumidb_backup_plain,
            empty.bare_backup_plain,
            PLAIN_BACKUP,
            False,
        ),
        (
            "`restore-latest --yes --no-safety-backup`",
            empty.lumidb_restore_plain,
            empty.bare_restore_plain,
            PSQL_RESTORE,
            True,
        ),
    ):
        lumidb()  # warm-up, untimed
        empty.clear_outputs()
        row = Row(operation, "empty db", label, absolute, FIXED_GOAL, absolute=True)
        rows.append(
            pairs(row, n, timed_db(empty, lumidb, rewrites), timed_db(empty, bare, rewrites), say)
        )
    empty_env = empty.lumidb_env(empty.source_dir)
    script = str(bench.lumidb)
    rows.append(
        pairs(
            Row(
                "`lumidb backups list`",
                "empty db, 1 backup",
                "`ls -l <dir>`",
                absolute,
                FIXED_GOAL,
                True,
            ),
            n,
            timed_command([script, "backups", "list"], empty_env),
            timed_command(["ls", "-l", str(empty.source_dir)], empty_env),
            say,
        )
    )
    assert empty.plain_source is not None
    many = root / "many"
    setup.fake_backups(empty.plain_source, many, FAKE_BACKUPS)
    many_env = empty.lumidb_env(many)
    say(f"  {FAKE_BACKUPS} backups in {many}")
    # --json beside the table: the listing itself, apart from rich drawing 500 rows
    for args in (
        ["backups", "list"],
        ["backups", "list", "--json"],
        ["restore-latest", "--dry-run"],
    ):
        rows.append(
            pairs(
                Row(
                    f"`lumidb {' '.join(args)}`",
                    f"{FAKE_BACKUPS} backups",
                    "the same over 1 backup",
                    "< 1 s (lumidb alone)",
                    1.0,
                    absolute=True,
                ),
                n,
                timed_command([script, *args], many_env),
                timed_command([script, *args], empty_env),
                say,
            )
        )
    return rows


def run(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(message, flush=True)

    zstd = shutil.which("zstd")
    if zstd is None:
        say("error: the zstd command-line program is missing (apt-get install -y zstd)")
        return 2
    signal.signal(signal.SIGTERM, br._sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    root = Path(tempfile.mkdtemp(prefix="lumidb-speed-", dir="/tmp"))
    say(f"working folder: {root} (removed at the end)")
    started = time.monotonic()
    try:
        bin_dir, commit = setup.install_clean(args.source, root, say)
        pg_bin = Path(
            setup.run_checked(
                [
                    str(bin_dir / "python"),
                    "-c",
                    "from lumidb.server import bundled_bin_dir; print(bundled_bin_dir())",
                ]
            )
        )
        with br.throwaway_server(root, say) as server:
            target = server.target()
            bench = br.Bench(
                root=root,
                server=server,
                lumidb=bin_dir / "lumidb",
                zstd=zstd,
                bin_dir=pg_bin,
                conninfo=f"postgresql://{target.user}@{target.host}:{target.port}/{target.dbname}",
                lumidb_url=server.url(),
            )
            bench.bare_dir.mkdir()
            with psycopg.connect(bench.conninfo, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET autovacuum = off")
                conn.execute("SELECT pg_reload_conf()")
            bench.run_lumidb(["migrate", "deploy", "--quiet"], bench.timing_dir)
            say("start-up, fixed costs and growth")
            rows = measure_fixed(bench, root, bin_dir, args.pairs, say)
            state = br.FillState()
            curve: list[tuple[int, Row]] = []
            for size_mb in sorted(set(args.size_mb) | set(args.sizes)):
                say(f"filling to about {size_mb} MiB")
                size = setup.grow(bench, state, size_mb, say)
                label = f"{size / br.MB:.0f} MiB"
                measured = measure_size(bench, label, args.pairs, size_mb in args.size_mb, say)
                if size_mb in args.size_mb:
                    rows += measured
                if size_mb in args.sizes:
                    curve.append((size, measured[0]))
            say("\n## Result\n")
            say(table(HEADER, [row.cells() for row in rows], range(3, 6)))
            say("\nBackup time against size (plain, zstd; medians):\n")
            say(curve_table(curve))
            say("")
            say(
                f"- lumidb {commit[:10]} installed from a clean clone (`uv sync --frozen --no-dev --no-editable --compile-bytecode`)"
            )
            say(f"- {args.pairs} alternating pairs per line; rows: {bench.expected_counts}")
            for line in br.machine_info(bench):
                say(f"- {line}")
            say(
                f"- load average (1 min) at the end {os.getloadavg()[0]:.2f}; the run took {time.monotonic() - started:.0f} s"
            )
    except br.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        br._kill_children()
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give sizes in MiB, like 100,300,1000"
        ) from None
    if not sizes or min(sizes) < 5:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes of at least 5 MiB")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb",
        type=_sizes,
        default=[300, 1024],
        help="sizes (MiB) of the full comparison (default 300,1024)",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[100, 300, 1024],
        help="sizes (MiB) of the backup curve (default 100,300,1024)",
    )
    parser.add_argument(
        "--pairs", type=int, default=5, help="alternating pairs per comparison (default 5)"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="git repository to install lumidb from (its HEAD)",
    )
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
