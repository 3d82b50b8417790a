"""Reverting revisions (``lumidb migrate down``): the plan shown before asking, then the revert."""

from __future__ import annotations

from lumidb import guard, migrations
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import LumidbError, OperationError, RefusedError, UsageError
from lumidb.locks import database_lock
from lumidb.migrations import DownPlan, DownResult


class NothingToRevert(LumidbError):
    """``migrate down REV`` when the database is already at REV: nothing to do (exit 0)."""

    def __init__(self, dbname: str, revision: str) -> None:
        super().__init__(f"{dbname} is already at {revision}: nothing to revert")
        self.revision = revision


def plan_down(
    target: DatabaseTarget, revision: str | None, *, environment: Environment
) -> DownPlan:
    """What ``migrate down`` would revert: one step by default, or down to ``revision``."""
    script = migrations.script_directory()
    with migrations.sa_connection(target, "migrate down") as conn:
        current = migrations.current_heads(conn)
        with connect(target, application_name="lumidb migrate down") as raw:
            record = guard.environment_record(raw, environment)
    guard.refuse_on_production(
        record, "migrate down", hint="on production, revert with a new revision instead"
    )
    if not current:
        raise UsageError(f"{target.dbname} has no applied revisions to revert")
    if revision is None:
        down_to = script.get_revision(current[0]).down_revision if len(current) == 1 else None
        if isinstance(down_to, tuple | list):
            raise UsageError(
                "the current revision merges branches; name the revision to go down to"
            )
        goal = down_to or "base"
    else:
        goal = revision
        try:
            if goal != "base":
                script.get_revision(goal)
        except Exception:
            raise UsageError(
                f"unknown revision {goal!r}", hint="see `lumidb migrate history`"
            ) from None
    heads = tuple(script.get_heads())
    revert = [
        migrations.revision_info(s, applied=True, heads=heads)
        for s in script.iterate_revisions(current, goal)
        if s.revision != goal
    ]
    if not revert:
        raise NothingToRevert(target.dbname, goal)
    return DownPlan(
        database=target.masked_url(),
        current=list(current),
        target=goal,
        revert=revert,
        production=record.is_production,
    )


def down(target: DatabaseTarget, plan: DownPlan, *, lock_timeout: float) -> DownResult:
    """Revert exactly the planned revisions (each in its own transaction)."""
    from alembic import command

    with (
        database_lock(target, "migrate down", timeout=lock_timeout),
        migrations.sa_connection(target, "migrate down") as conn,
    ):
        if list(migrations.current_heads(conn)) != plan.current:
            raise RefusedError(
                "the database changed since the plan was made", hint="run the command again"
            )
        try:
            command.downgrade(migrations.alembic_config(conn), plan.target)
        except Exception as exc:
            conn.rollback()
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise OperationError(f"downgrade to {plan.target} failed: {cause}") from None
        conn.commit()
        current = migrations.current_heads(conn)
    return DownResult(database=target.masked_url(), reverted=plan.revert, current=list(current))
