"""Setting up bench/speed.py: a clean install of lumidb, the data, fake backups, bare commands.

Kept apart from bench/speed.py (the measurements and the report) to keep both short.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backup_restore as br
import psycopg

HELLO_APP = '''"""A two-command hello-world Typer app: the start-up floor for `lumidb --help`."""
import typer

app = typer.Typer()


def _version(value: bool) -> None:
    if value:
        print("hello 1.0")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """Say hello or goodbye."""


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


@app.command()
def bye(name: str = "world") -> None:
    """Say goodbye."""
    print(f"bye {name}")


if __name__ == "__main__":
    app()
'''


# --- setting up -------------------------------------------------------------------------


def run_checked(command: Sequence[str], cwd: Path | None = None) -> str:
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    result = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise br.BenchError(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def install_clean(source: Path, root: Path, say: Callable[[str], None]) -> tuple[Path, str]:
    """Clone ``source``'s HEAD and install it as a new user would; (venv bin dir, commit)."""
    commit = run_checked(["git", "-C", str(source), "rev-parse", "HEAD"])
    clone = root / "clone"
    say(f"installing lumidb {commit[:10]} from a clean clone of {source}")
    run_checked(["git", "clone", "--quiet", "--no-checkout", str(source), str(clone)])
    run_checked(["git", "-C", str(clone), "checkout", "--quiet", commit])
    run_checked(
        ["uv", "sync", "--frozen", "--no-dev", "--no-editable", "--compile-bytecode", "--quiet"],
        cwd=clone,
    )
    return clone / ".venv" / "bin", commit


def with_database(url: str, database: str) -> str:
    """``url`` (postgresql://user@host:port/db?query) pointing at another database."""
    head, _, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    _, sep, query = path.partition("?")
    return f"{head}://{authority}/{database}{sep}{query}"


def grow(bench: br.Bench, state: br.FillState, size_mb: int, say: Callable[[str], None]) -> int:
    """Add generated rows until the database is about ``size_mb`` MiB; its size in bytes."""
    target = size_mb * br.MB
    with psycopg.connect(bench.conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM products").fetchone()
        if row is not None and row[0] == 0:
            conn.execute("SELECT setseed(0.42)")
            conn.execute(br.PRODUCTS_SQL)
        size = br._database_size(conn)
        while size < target * 0.98:
            per_user = max(size / max(state.users - 1, 1_000), 1.0)
            batch = int(min(br.MAX_BATCH_USERS, max(1_000, (target - size) / per_user)))
            br._add_users(conn, state, batch)
            size = br._database_size(conn)
            say(f"  {state.users - 1:>9,} users: {size / br.MB:7.1f} MiB")
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        conn.execute("CHECKPOINT")
        size = br._database_size(conn)
    bench.expected_counts = br.row_counts(bench.conninfo)
    return size


def source_backups(bench: br.Bench, custom: bool) -> None:
    """The backups the restores read: one plain (and one custom) made by lumidb, untimed."""
    for folder in (bench.source_dir, bench.custom_dir):
        shutil.rmtree(folder, ignore_errors=True)
    bench.run_lumidb(["backup", "--quiet"], bench.source_dir)
    bench.plain_source = br._only_backup(bench.source_dir, ".sql.zst")
    bench.dump_has_public_schema = br._dump_creates_public(bench.plain_source, bench.zstd)
    if custom:
        bench.run_lumidb(["backup", "--format", "custom", "--quiet"], bench.custom_dir)
        bench.custom_source = br._only_backup(bench.custom_dir, ".dump")


def fake_backups(real: Path, folder: Path, count: int) -> None:
    """``count`` valid copies of one real backup, a minute apart, with adjusted manifests."""
    manifest = json.loads(real.with_name(real.name + ".manifest.json").read_text())
    database = manifest["database"]
    folder.mkdir(mode=0o700)
    newest = datetime.now(UTC) - timedelta(days=1)
    for number in range(count):
        when = newest - timedelta(minutes=number)
        name = f"{database}-{when.strftime('%Y%m%dT%H%M%S')}.{number % 1000:03d}Z.sql.zst"
        shutil.copyfile(real, folder / name)
        (folder / name).chmod(0o600)
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        data = {**manifest, "file": name, "started_at": stamp, "finished_at": stamp}
        target = folder / (name + ".manifest.json")
        target.write_text(json.dumps(data, indent=2))
        target.chmod(0o600)


# --- the bare commands br.Bench lacks -----------------------------------------------------


def bare_restore_custom_single(bench: br.Bench) -> None:
    """``pg_restore --single-transaction --clean --if-exists`` of the custom backup."""
    assert bench.custom_source is not None
    with bench.errors_file.open("wb") as errors:
        proc = br._popen(
            [
                bench.program("pg_restore"),
                "--single-transaction",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                f"--dbname={bench.conninfo}",
                str(bench.custom_source),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=bench.bare_env(),
        )
        br._wait_all([proc], "pg_restore --single-transaction", bench.errors_file)
