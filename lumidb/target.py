"""Which database a command works on: the configured URL, or the embedded local server."""

from __future__ import annotations

from dataclasses import dataclass, field

from lumidb.config import Settings
from lumidb.connection import DatabaseTarget, parse_database_url
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
    application can connect to it too; the first time, its URL is reported.
    """
    chosen = settings.url_setting
    if chosen is not None:
        source, url = chosen
        target = parse_database_url(url, source=source, connect_timeout=settings.connect_timeout)
        warnings = []
        if target.pgbouncer and settings.direct_url is None:
            warnings.append(
                "DATABASE_URL goes through PgBouncer (pgbouncer=true) and no DIRECT_URL is set: "
                "locks and dumps need a direct connection, so set DIRECT_URL"
            )
        return ResolvedTarget(target=target, embedded=False, warnings=warnings)
    server = embedded_server(settings)
    start = server.ensure_running() if start_embedded else None
    notices = []
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
