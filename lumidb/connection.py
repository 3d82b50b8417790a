"""The database a command works on: parsing, masking, and opening connections.

Every URL form and connection quirk is handled here and nowhere else (pgcli's model):
Prisma's ``?schema=`` and its other client-only parameters, ``postgres://`` and
``postgresql://``, percent-encoded passwords, libpq parameters passed through. The
password is a ``pydantic.SecretStr`` (it prints as ``**********``) and its value leaves
this module only through ``child_env`` (``PGPASSWORD`` in a child program's environment)
and the arguments of the driver's own connect call (``conninfo_params``,
``sqlalchemy_url``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

from lumidb.errors import ConnectionFailed, UsageError

if TYPE_CHECKING:
    import psycopg
    from pydantic import SecretStr
    from sqlalchemy import Engine

# Query parameters that Prisma understands and libpq rejects.
PRISMA_ONLY_PARAMS = frozenset(
    {
        "schema",
        "connection_limit",
        "pool_timeout",
        "pgbouncer",
        "socket_timeout",
        "statement_cache_size",
        "connect_timeout_prisma",
        "sslaccept",
        "sslidentity",
        "sslpassword",
        "sslcert_prisma",
    }
)

# libpq parameters that lumidb sets itself or that carry the password.
_RESERVED_PARAMS = frozenset({"password", "passfile", "user", "dbname", "host", "port"})

MASK = "***"


@dataclass(frozen=True)
class DatabaseTarget:
    """One PostgreSQL database, as lumidb and its child programs reach it.

    A plain string given as ``password`` (by a test's fixture, say) is wrapped in a
    ``SecretStr``.
    """

    host: str
    port: int
    user: str
    dbname: str
    schema: str = "public"
    password: SecretStr | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = ()
    source: str = "DATABASE_URL"
    pgbouncer: bool = False
    connect_timeout: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.password, str):
            from pydantic import SecretStr

            object.__setattr__(self, "password", SecretStr(self.password))

    def _secret(self) -> str | None:
        return None if self.password is None else self.password.get_secret_value()

    # --- what may be shown -------------------------------------------------
    def masked_url(self) -> str:
        """The URL with the password replaced by ``***``: the only way a URL is shown."""
        return self._url(MASK if self._secret() else None)

    def url_without_password(self) -> str:
        """A Prisma-form URL with no password, for a passwordless local server."""
        return self._url(None)

    def _url(self, password: str | None) -> str:
        auth = quote(self.user, safe="")
        if password is not None:
            auth += ":" + (password if password == MASK else quote(password, safe=""))
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = [f"schema={quote(self.schema, safe='')}"]
        query += [f"{k}={quote(v, safe='')}" for k, v in self.params]
        if host.startswith("/"):
            query.append(f"host={quote(host, safe='/')}")
            host = ""
        return f"postgresql://{auth}@{host}:{self.port}/{quote(self.dbname, safe='')}?" + "&".join(
            query
        )

    def scrub(self, text: str) -> str:
        """``text`` (a child program's message, say) with this target's password masked."""
        secret = self._secret()
        return text.replace(secret, MASK) if secret else text

    @property
    def sslmode(self) -> str | None:
        return dict(self.params).get("sslmode")

    @property
    def needs_ssl(self) -> bool:
        """True when the connection insists on TLS, so client programs must support it."""
        return self.sslmode in {"require", "verify-ca", "verify-full"}

    @property
    def where(self) -> str:
        """``host:port/dbname``, for messages."""
        return f"{self.host}:{self.port}/{self.dbname}"

    def for_database(self, dbname: str) -> DatabaseTarget:
        """The same server and credentials, another database (scratch databases, tests)."""
        return replace(self, dbname=dbname)

    # --- how it is reached --------------------------------------------------
    def conninfo_params(self, application_name: str = "lumidb") -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (the password included)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "application_name": application_name,
            "connect_timeout": self.connect_timeout,
        }
        params.update(dict(self.params))
        if self.password is not None:
            params["password"] = self.password.get_secret_value()
        options = params.get("options", "")
        params["options"] = f"{options} -c search_path={quote_ident(self.schema)}".strip()
        return params

    def child_dsn(self) -> str:
        """A libpq keyword/value string for child programs' ``--dbname``: no password.

        Built by libpq's own rules (``psycopg.conninfo.make_conninfo``), so a value holding
        a space, a tab, a quote or a backslash stays one value and cannot add settings.
        """
        from psycopg.conninfo import make_conninfo

        params = self.conninfo_params()
        params.pop("password", None)
        params.pop("options", None)
        params.pop("application_name", None)
        return make_conninfo("", **{k: str(v) for k, v in params.items()})

    def child_env(self, application_name: str = "lumidb") -> dict[str, str]:
        """The environment of a child program: the password travels here, never in argv."""
        env = {
            k: v
            for k, v in os.environ.items()
            if (not k.startswith("PG") or k in {"PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"})
            and not k.startswith("AWS_")  # the bucket's secrets are not the dump's business
        }
        env["PGAPPNAME"] = application_name
        env["PGCONNECT_TIMEOUT"] = str(self.connect_timeout)
        if self.password is not None:
            env["PGPASSWORD"] = self.password.get_secret_value()
        return env

    def sqlalchemy_url(self) -> Any:
        """A SQLAlchemy ``URL`` for the psycopg 3 driver."""
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self._secret(),
            host=self.host,
            port=self.port,
            database=self.dbname,
            query=dict(self.params),
        )


def parse_database_url(
    url: str, *, source: str = "DATABASE_URL", connect_timeout: int = 5
) -> DatabaseTarget:
    """Parse a PostgreSQL URL (Prisma's form included) into a ``DatabaseTarget``.

    A malformed URL raises ``UsageError`` naming the problem without the password.
    """
    parts = _split_url(url.strip(), source)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params: dict[str, str] = {}
    schema = "public"
    pgbouncer = False
    host = unquote(parts.hostname or "")
    port = parts.port or 5432
    valid = _libpq_keywords()
    for key, value in query:
        if key == "schema":
            schema = value or "public"
        elif key == "pgbouncer":
            pgbouncer = value.lower() == "true"
        elif key in PRISMA_ONLY_PARAMS:
            continue
        elif key == "host":
            host = value
        elif key == "port":
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise UsageError(
                    f"{source} is malformed: the port in its query string is not a number "
                    "from 1 to 65535"
                )
            port = int(value)
        elif key in _RESERVED_PARAMS:
            raise UsageError(f"{source}: put {key} in the URL itself, not in its query string")
        elif key not in valid:
            raise UsageError(
                f"{source} has an unknown parameter {key!r}",
                hint="remove it, or use a libpq parameter such as sslmode or connect_timeout",
            )
        else:
            params[key] = value
    if not host:
        raise UsageError(f"{source} names no host", hint="use postgresql://USER@HOST:PORT/DATABASE")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise UsageError(
            f"{source} names no database", hint="add /DATABASE after the host and port"
        )
    user = unquote(parts.username or "") or os.environ.get("USER", "postgres")
    from pydantic import SecretStr

    password = unquote(parts.password) if parts.password is not None else ""
    timeout = int(params.pop("connect_timeout", connect_timeout) or connect_timeout)
    return DatabaseTarget(
        host=host,
        port=port,
        user=user,
        dbname=dbname,
        schema=schema,
        password=SecretStr(password) if password else None,
        params=tuple(params.items()),
        source=source,
        pgbouncer=pgbouncer,
        connect_timeout=timeout,
    )


ENCODE_HINT = (
    "percent-encode special characters in the password: / as %2F, ? as %3F, # as %23, "
    "@ as %40, : as %3A, % as %25"
)


def _split_url(url: str, source: str) -> SplitResult:
    """Split a URL, refusing one whose parts cannot be told apart.

    An unencoded ``/``, ``?`` or ``#`` in the password ends the host part early and
    pushes the rest of the password into the port, the path, the query or the fragment.
    The errors here name the part that failed and quote nothing after ``scheme://``,
    since any of it may be the password.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UsageError(
            f"{source} is malformed: its host part cannot be read", hint=ENCODE_HINT
        ) from None
    if parts.scheme not in {"postgresql", "postgres"}:
        shown = parts.scheme if parts.scheme and "://" in url else "(none)"
        raise UsageError(
            f"{source} must start with postgresql:// (its scheme is {shown})",
            hint="use the form postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
        )
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        raise UsageError(
            f"{source} is malformed: an '@' comes after the host part, so the user or "
            "password holds a '/', '?' or '#' that is not percent-encoded",
            hint=ENCODE_HINT,
        )
    if "#" in url:
        raise UsageError(
            f"{source} is malformed: it holds a '#', which ends a URL "
            "(in a password it must be percent-encoded)",
            hint=ENCODE_HINT,
        )
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise UsageError(
            f"{source} is malformed: its port is not a number from 1 to 65535",
            hint="check the port after the host; " + ENCODE_HINT,
        ) from None
    return parts


# The connection parameters libpq 18 knows (``PQconndefaults``), written out so that
# parsing a URL does not import psycopg (~0.1 s); a test keeps it a superset of what the
# installed libpq reports. One only an older libpq lacks fails at connect, with libpq's
# own message.
LIBPQ_KEYWORDS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "dbname",
        "fallback_application_name",
        "gssdelegation",
        "gssencmode",
        "gsslib",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "krbsrvname",
        "load_balance_hosts",
        "max_protocol_version",
        "min_protocol_version",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_issuer",
        "oauth_scope",
        "options",
        "passfile",
        "password",
        "port",
        "replication",
        "require_auth",
        "requirepeer",
        "scram_client_key",
        "scram_server_key",
        "service",
        "ssl_max_protocol_version",
        "ssl_min_protocol_version",
        "sslcert",
        "sslcertmode",
        "sslcompression",
        "sslcrl",
        "sslcrldir",
        "sslkey",
        "sslkeylogfile",
        "sslmode",
        "sslnegotiation",
        "sslpassword",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
    }
)


def _libpq_keywords() -> frozenset[str]:
    return LIBPQ_KEYWORDS


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, double-quoted: the one place lumidb quotes names."""
    return '"' + name.replace('"', '""') + '"'


def describe_connect_error(target: DatabaseTarget, exc: BaseException) -> ConnectionFailed:
    """Turn a driver error into one line naming host, port and cause (no password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = target.scrub(text)
    text = text.removeprefix("connection failed: ")
    hint = None
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        hint = "check the user and password in " + target.source
    elif "does not exist" in lowered and "database" in lowered:
        hint = "create the database, or fix the name in " + target.source
    elif "refused" in lowered or "timeout" in lowered or "timed out" in lowered:
        hint = "is the server running and reachable from here?"
    elif "ssl" in lowered:
        hint = "check sslmode in " + target.source
    return ConnectionFailed(
        f"cannot connect to {target.host}:{target.port} ({target.dbname}): {text}", hint=hint
    )


@contextmanager
def connect(
    target: DatabaseTarget, *, application_name: str = "lumidb", autocommit: bool = True
) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection to the target, closed on exit; failures become ``ConnectionFailed``."""
    import psycopg

    try:
        conn = psycopg.connect(autocommit=autocommit, **target.conninfo_params(application_name))
    except psycopg.OperationalError as exc:
        raise describe_connect_error(target, exc) from None
    with conn:
        yield conn


def round_trip_ms(target: DatabaseTarget) -> tuple[float, float, str]:
    """Connect, ask the server's version; return (connect ms, query ms, version string)."""
    started = time.perf_counter()
    with connect(target, application_name="lumidb doctor") as conn:
        connected = time.perf_counter()
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        done = time.perf_counter()
    version = str(row[0]) if row else "unknown"
    return (connected - started) * 1000, (done - connected) * 1000, version


def make_engine(target: DatabaseTarget, *, application_name: str = "lumidb") -> Engine:
    """A SQLAlchemy engine for the target; its connections use the target's schema."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    params = target.conninfo_params(application_name)
    connect_args = {
        "application_name": application_name,
        "connect_timeout": params["connect_timeout"],
        "options": params["options"],
    }
    return create_engine(target.sqlalchemy_url(), poolclass=NullPool, connect_args=connect_args)
