"""Which database a command works on: the configured URL, or the embedded local server."""

from __future__ import annotations

from dataclasses import dataclass, field

from lumidb.config import Settings
from lumidb.connection import DatabaseTarget, parse_database_url
from lumidb.errors import OperationError, UsageError
from lumidb.guard import RECORD_SCHEMA
from lumidb.server import EmbeddedServer, StartResult


@dataclass(frozen=True)
class ResolvedTarget:
    target: DatabaseTarget
    embedded: bool
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    server_start: StartResult | None = None


def embedded_server(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(settings.state_dir)


def resolve_target(settings: Settings, *, start_embedded: bool = True) -> ResolvedTarget:
    """The configured database (``DIRECT_URL`` over ``DATABASE_URL``), else the local server.

    The local server is created and started on first use and left running, so the
    application can connect to it too; the first time, its URL is reported. With
    ``start_embedded=False`` (the read-only commands) it is never created nor started:
    when it is missing or stopped, that is an error (exit 1) naming the command to run.
    """
    chosen = settings.url_setting
    if chosen is not None:
        source, url = chosen
        target = parse_database_url(url, source=source, connect_timeout=settings.connect_timeout)
        if target.schema == RECORD_SCHEMA:
            raise UsageError(
                f"{source} has schema={RECORD_SCHEMA}: that schema is lumidb's own "
                "(the environment record), never the application's",
                hint="use the application's schema, e.g. ?schema=public",
            )
        warnings = []
        if target.pgbouncer and settings.direct_url is None:
            warnings.append(
                "DATABASE_URL goes through PgBouncer (pgbouncer=true) and no DIRECT_URL is set: "
                "locks and dumps need a direct connection, so set DIRECT_URL"
            )
        return ResolvedTarget(target=target, embedded=False, warnings=warnings)
    server = embedded_server(settings)
    if not start_embedded:
        require_running(server)
    start = server.ensure_running() if start_embedded else None
    notices: list[str] = []
    if start is not None:
        notices += [f"opened for the server's system user (o+x): {c}" for c in start.opened]
    if start is not None and start.created:
        notices.append(f"created a local PostgreSQL in {server.state_dir}: {start.url}")
    elif start is not None and start.started:
        notices.append(f"started the local PostgreSQL: {start.url}")
    return ResolvedTarget(
        target=server.target(connect_timeout=settings.connect_timeout),
        embedded=True,
        notices=notices,
        server_start=start,
    )


def require_running(server: EmbeddedServer) -> None:
    """Fail (exit 1) when the local server is missing or stopped, naming what to run."""
    if not server.created:
        raise OperationError(
            f"no DATABASE_URL is set and there is no local server in {server.state_dir}",
            hint="run `lumidb setup` (or `lumidb server start`) to create one, or set DATABASE_URL",
        )
    if not server.is_running():
        raise OperationError(
            f"the local server in {server.state_dir} is stopped",
            hint="run `lumidb server start`",
        )


def libpq_url(target: DatabaseTarget) -> str:
    """A URL that psql and other libpq programs accept: no password, no Prisma ``schema``.

    A schema other than ``public`` travels as ``options=-csearch_path=...``, which libpq
    understands; Prisma-only parameters (``schema``, ``pgbouncer``, ...) are left out.
    """
    from urllib.parse import quote

    from lumidb.connection import quote_ident

    host = f"[{target.host}]" if ":" in target.host else target.host
    query: list[tuple[str, str]] = list(target.params)
    if target.schema != "public":
        query.append(("options", f"-csearch_path={quote_ident(target.schema)}"))
    if host.startswith("/"):
        query.append(("host", host))
        host = ""
    text = f"postgresql://{quote(target.user, safe='')}@{host}:{target.port}/{quote(target.dbname, safe='')}"
    if query:
        text += "?" + "&".join(f"{k}={quote(v, safe='/')}" for k, v in query)
    return text
