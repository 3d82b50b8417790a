"""Benchmark for issue 18 ("Speed"): a backup to a loopback S3 server against a local folder and a bare stream.

Usage::

    uv run python bench/s3.py                          # 100 MiB, 3 rounds
    uv run python bench/s3.py --size-mb 100,1000 --rounds 3

Three ways to back up the same database, in one run, the order rotating each round:

- ``lumidb backup --quiet --to s3://bucket/prefix`` (plain, zstd -3, multipart upload);
- ``lumidb backup --quiet --to <folder>`` (the same backup to a local folder);
- the bare stream: ``pg_dump … | zstd -3 | python -c 'boto3 … upload_fileobj(stdin)'``,
  the equivalent of ``pg_dump | zstd -3 | aws s3 cp - s3://…`` (boto3's own managed
  transfer, default settings).

The S3 server is moto in server mode on loopback (``tests/s3server.py``), reached through
standard AWS files and ``AWS_ENDPOINT_URL``; the bucket is emptied after each run. The
database is a throwaway PostgreSQL 18 filled by ``bench/backup_restore.py``'s generator;
pg_dump is the bundled PostgreSQL 18 client lumidb picks. lumidb runs from this checkout's
environment (``.venv``), not from a clean install (``bench/speed.py`` does that).

Peak RSS is ``ru_maxrss`` of each timed process as ``wait4`` reports it: the largest of the
process and the children it waited for (lumidb's is lumidb or its pg_dump; the bare
stream's is the uploader's). It prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import backup_restore as br
import psycopg
import speed_setup as setup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from s3server import S3TestServer

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "bench/production"
UPLOADER = """
import sys, boto3
boto3.client("s3").upload_fileobj(sys.stdin.buffer, sys.argv[1], sys.argv[2])
"""
GOAL_LOCAL = 1.2
GOAL_BARE = 1.05


@dataclass
class Side:
    """The measurements of one way of backing up at one size."""

    name: str
    seconds: list[float] = field(default_factory=list)
    peak_rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _wait(procs: Sequence[subprocess.Popen[bytes]], what: str) -> int:
    """Wait for every process; the largest peak RSS (KiB) among them. Raises on failure."""
    peak = 0
    failed = []
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = max(peak, usage.ru_maxrss)
        if proc.returncode != 0:
            failed.append(proc.returncode)
    if failed:
        raise br.BenchError(f"{what} failed (exit {failed})")
    return peak


class S3Bench:
    def __init__(self, bench: br.Bench, server: S3TestServer, aws_env: dict[str, str]) -> None:
        self.bench = bench
        self.server = server
        self.aws_env = aws_env
        self.bucket = server.new_bucket()
        self.url = f"s3://{self.bucket}/{PREFIX}"
        self.local = bench.root / "local-backups"

    def env(self) -> dict[str, str]:
        env = self.bench.lumidb_env(self.local)
        env.update(self.aws_env)
        return env

    def _lumidb(self, to: str) -> int:
        proc = subprocess.Popen(
            [str(self.bench.lumidb), "backup", "--quiet", "--to", to],
            env=self.env(),
            cwd=self.bench.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.bench.errors_file.open("wb"),
        )
        return _wait([proc], f"lumidb backup --to {to}")

    def to_s3(self) -> int:
        return self._lumidb(self.url)

    def to_local(self) -> int:
        return self._lumidb(str(self.local))

    def bare(self) -> int:
        bench = self.bench
        key = f"{PREFIX}/bare.sql.zst"
        with bench.errors_file.open("wb") as errors:
            dump = subprocess.Popen(
                [bench.program("pg_dump"), f"--dbname={bench.conninfo}", *br.DUMP_ARGS],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=bench.bare_env(),
            )
            assert dump.stdout is not None
            zstd = subprocess.Popen(
                [bench.zstd, br.ZSTD_LEVEL, "-q", "-c"],
                stdin=dump.stdout,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            dump.stdout.close()
            assert zstd.stdout is not None
            upload = subprocess.Popen(
                [sys.executable, "-c", UPLOADER, self.bucket, key],
                stdin=zstd.stdout,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env={**bench.bare_env(), **self.aws_env},
            )
            zstd.stdout.close()
            _wait([dump, zstd], "pg_dump | zstd -3")
            return _wait([upload], "upload_fileobj")

    def clear(self) -> None:
        client = self.server.client()
        while True:
            reply = client.list_objects_v2(Bucket=self.bucket)
            items = [{"Key": item["Key"]} for item in reply.get("Contents", [])]
            if not items:
                break
            client.delete_objects(Bucket=self.bucket, Delete={"Objects": items})
        shutil.rmtree(self.local, ignore_errors=True)

    def stored_sizes(self) -> dict[str, int]:
        reply = self.server.client().list_objects_v2(Bucket=self.bucket)
        return {item["Key"]: item["Size"] for item in reply.get("Contents", [])}


def measure(s3: S3Bench, rounds: int, say: Callable[[str], None]) -> list[Side]:
    sides = [
        (Side("`lumidb backup --to s3://…`"), s3.to_s3),
        (Side("`lumidb backup --to <folder>`"), s3.to_local),
        (Side("bare: `pg_dump | zstd -3 | upload_fileobj`"), s3.bare),
    ]
    for _, go in sides:  # warm-up, untimed (page cache, moto, imports)
        go()
        s3.clear()
    for number in range(rounds):
        for side, go in br._rotated(sides, number):
            s3.bench.checkpoint()
            started = time.perf_counter()
            peak = go()
            side.seconds.append(time.perf_counter() - started)
            side.peak_rss_kib.append(peak)
            s3.clear()
            say(f"    {side.name}: {side.seconds[-1]:.2f} s, peak RSS {peak / 1024:.0f} MiB")
    return [side for side, _ in sides]


def table(rows: list[tuple[str, list[Side]]]) -> str:
    lines = [
        "| size | backup | median s (min–max) | × local folder | × bare stream | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for size, sides in rows:
        local, bare = sides[1].median, sides[2].median
        for side in sides:
            lines.append(
                f"| {size} | {side.name} | {side.median:.2f} ({min(side.seconds):.2f}–"
                f"{max(side.seconds):.2f}) | {side.median / local:.2f} | "
                f"{side.median / bare:.2f} | {max(side.peak_rss_kib) / 1024:.0f} |"
            )
    return "\n".join(lines)


def compile_environment(say: Callable[[str], None]) -> None:
    """Byte-compile the environment once, as an installed lumidb is (``uv tool install``,
    ``uv sync --compile-bytecode``): otherwise, with ``PYTHONDONTWRITEBYTECODE`` set, every
    run would compile boto3 from source (over a second) and the S3 side would pay for it."""
    import sysconfig

    say("byte-compiling the environment (once)")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", sysconfig.get_paths()["purelib"]],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "lumidb")],
        stdout=subprocess.DEVNULL,
        check=False,
    )


def run(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(message, flush=True)

    zstd = shutil.which("zstd")
    if zstd is None:
        say("error: the zstd command-line program is missing")
        return 2
    signal.signal(signal.SIGTERM, br._sigterm)
    compile_environment(say)
    root = Path(tempfile.mkdtemp(prefix="lumidb-s3-bench-", dir="/tmp"))
    say(f"working folder: {root} (removed at the end)")
    started = time.monotonic()
    from lumidb.server import bundled_bin_dir

    try:
        with br.throwaway_server(root, say) as server, S3TestServer() as s3_server:
            target = server.target()
            bench = br.Bench(
                root=root,
                server=server,
                lumidb=ROOT / ".venv" / "bin" / "lumidb",
                zstd=zstd,
                bin_dir=bundled_bin_dir(),
                conninfo=f"postgresql://{target.user}@{target.host}:{target.port}/{target.dbname}",
                lumidb_url=server.url(),
            )
            with psycopg.connect(bench.conninfo, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET autovacuum = off")
                conn.execute("SELECT pg_reload_conf()")
            bench.timing_dir.mkdir()
            bench.run_lumidb(["migrate", "deploy", "--quiet"], bench.timing_dir)
            aws_env = s3_server.write_aws_files(root / "aws")
            s3 = S3Bench(bench, s3_server, aws_env)
            state = br.FillState()
            results: list[tuple[str, list[Side]]] = []
            for size_mb in args.size_mb:
                say(f"filling to about {size_mb} MiB")
                size = setup.grow(bench, state, size_mb, say)
                label = f"{size / br.MB:.0f} MiB"
                s3.to_s3()
                stored = sum(v for k, v in s3.stored_sizes().items() if k.endswith(".zst"))
                s3.clear()
                say(f"  database {label}; the backup is {stored / br.MB:.1f} MiB (zstd -3)")
                results.append(
                    (f"{label} ({stored / br.MB:.0f} MiB dump)", measure(s3, args.rounds, say))
                )
            say("\n## Result\n")
            say(table(results))
            say("")
            say(
                f"- goals: S3 ≤ {GOAL_LOCAL}× the local folder and ≤ {GOAL_BARE}× the bare "
                "stream (medians); memory flat across sizes"
            )
            say(f"- {args.rounds} rounds, the order of the three rotating each round")
            for line in br.machine_info(bench):
                say(f"- {line}")
            say(
                f"- load average (1 min) at the end {os.getloadavg()[0]:.2f}; "
                f"the run took {time.monotonic() - started:.0f} s"
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[100],
        help="database sizes in MiB, comma-separated (default 100)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (default 3)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
