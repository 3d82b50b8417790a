"""The soft-delete lifecycle: which records a run touches, what waits, and restore-inactive.

LumiAI soft-deletes users and products with ``isActive = false`` (``updatedAt`` is then
the moment of the soft delete). This module resolves the filters shared by ``purge`` and
``restore-inactive`` (tables, ``--id``/``--email``/``--sku``), lists what waits
(``lumidb inactive``) and brings records back. ``lumidb.purge`` removes them for good.

Emails, SKUs and ids are always bound parameters: data, never SQL. Times are the
command's clock (one aware UTC value per run), stored as naive UTC in the
``TIMESTAMP(3)`` columns, never SQL ``now()``, which follows the session's time zone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import OperationError, UsageError
from lumidb.timespec import age_seconds

APPLICATION_NAME = "lumidb soft-delete"
ANONYMISED_EMAIL_LIKE = "deleted-%@invalid"
DEFAULT_BATCH = 5000


def anonymised_email(user_id: str) -> str:
    """The unique, non-deliverable address an anonymised user gets (and how lumidb knows one)."""
    return f"deleted-{user_id}@invalid"


def db_time(when: datetime) -> datetime:
    """An aware time as the naive UTC value a ``TIMESTAMP(3)`` column holds."""
    if when.tzinfo is None:
        raise ValueError("lumidb's clock values are aware (UTC) datetimes")
    return when.astimezone(UTC).replace(tzinfo=None)


def from_db_time(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BatchProgress:
    """One finished batch, for a progress display: the command passes the callback."""

    table: str
    done: int
    total: int
    seconds: float


Progress = Callable[[BatchProgress], None]


# --- the filters -----------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What a run may touch: tables (default both) and, optionally, named records alone."""

    users: bool = False
    products: bool = False
    ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()

    @property
    def named(self) -> bool:
        return bool(self.ids or self.emails or self.skus)

    @property
    def tables(self) -> tuple[bool, bool]:
        """(users, products): both when neither was picked."""
        if not (self.users or self.products):
            return True, True
        return self.users, self.products


@dataclass(frozen=True)
class Scope:
    """A resolved selection: ``None`` means every row of that table, an empty list none."""

    user_ids: list[str] | None
    product_ids: list[str] | None
    active: list[str] = field(default_factory=list)  # named records that are not soft-deleted


_NATURAL_KEY = {"users": "email", "products": "sku"}


def _look_up(
    conn: Any, table: str, column: str, values: list[str], into: dict[str, tuple[str, bool]]
) -> set[str]:
    """Rows of ``table`` whose ``column`` (id, email or sku) is one of ``values``, added to
    ``into`` as id -> (email or SKU, isActive); returns the values that were found."""
    from psycopg import sql

    key = _NATURAL_KEY[table]
    query = sql.SQL('SELECT id, {key}, {column}, "isActive" FROM {table} WHERE {column} = ANY(%s)')
    found: set[str] = set()
    for record_id, natural, matched, active in conn.execute(
        query.format(
            key=sql.Identifier(key), column=sql.Identifier(column), table=sql.Identifier(table)
        ),
        (values,),
    ):
        into[record_id] = (natural, active)
        found.add(matched)
    return found


def resolve_selection(conn: Any, selection: Selection) -> Scope:
    """Look the named records up; any unknown one is a ``UsageError`` (nothing changed)."""
    want_users, want_products = selection.tables
    if not selection.named:
        return Scope(user_ids=None if want_users else [], product_ids=None if want_products else [])
    if selection.emails and selection.users is False and selection.products:
        raise UsageError("--email names users, but --products alone was asked for")
    if selection.skus and selection.products is False and selection.users:
        raise UsageError("--sku names products, but --users alone was asked for")
    ids = list(dict.fromkeys(selection.ids))
    users: dict[str, tuple[str, bool]] = {}
    products: dict[str, tuple[str, bool]] = {}
    found_ids: set[str] = set()
    if ids and want_users:
        found_ids |= _look_up(conn, "users", "id", ids, users)
    if ids and want_products:
        found_ids |= _look_up(conn, "products", "id", ids, products)
    emails = list(dict.fromkeys(selection.emails))
    found_emails = _look_up(conn, "users", "email", emails, users) if emails else set()
    skus = list(dict.fromkeys(selection.skus))
    found_skus = _look_up(conn, "products", "sku", skus, products) if skus else set()
    unknown = (
        [f"id {i!r}" for i in ids if i not in found_ids]
        + [f"email {e!r}" for e in emails if e not in found_emails]
        + [f"SKU {s!r}" for s in skus if s not in found_skus]
    )
    if unknown:
        raise UsageError(
            "no such record: " + ", ".join(unknown) + "; nothing was changed",
            hint="check with `lumidb inactive`",
        )
    active = [f"user {email}" for email, on in users.values() if on] + [
        f"product {sku}" for sku, on in products.values() if on
    ]
    return Scope(
        user_ids=[uid for uid, (_, on) in users.items() if not on],
        product_ids=[pid for pid, (_, on) in products.items() if not on],
        active=sorted(active),
    )


def scope_clause(column: str, ids: list[str] | None) -> tuple[str, tuple[Any, ...]]:
    """``AND id = ANY(...)`` for a named scope, nothing for a whole table."""
    if ids is None:
        return "", ()
    return f" AND {column} = ANY(%s)", (ids,)


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def production_of(conn: Any, environment: Any) -> bool:
    from lumidb import guard

    return guard.environment_record(conn, environment).is_production


# --- lumidb inactive ---------------------------------------------------------------------


@dataclass(frozen=True)
class InactiveRecord:
    """One soft-deleted row, its age, and what ``purge`` would do to it."""

    id: str
    label: str  # email or SKU
    soft_deleted_at: str
    age_seconds: float
    purge_action: str  # delete, anonymise, keep
    reason: str | None


@dataclass(frozen=True)
class InactiveListing:
    database: str
    users: list[InactiveRecord]
    products: list[InactiveRecord]


def list_inactive(
    target: DatabaseTarget, *, now: datetime, limit: int | None = None
) -> InactiveListing:
    """Every soft-deleted user and product, oldest first, read-only (no lock, no change)."""
    from lumidb.seed import require_migrated

    with connect(target, application_name="lumidb inactive") as conn:
        require_migrated(conn, target.schema)
        conn.execute("SET default_transaction_read_only = on")
        cap = f" LIMIT {int(limit)}" if limit else ""
        users = [
            _inactive(uid, email, at, now, *_user_action(email, orders))
            for uid, email, at, orders in conn.execute(
                _inactive_query("users", "email", "orders", "userId") + cap
            )
        ]
        products = [
            _inactive(pid, sku, at, now, *_product_action(items))
            for pid, sku, at, items in conn.execute(
                _inactive_query("products", "sku", "order_items", "productId") + cap
            )
        ]
    return InactiveListing(database=target.dbname, users=users, products=products)


def _inactive_query(table: str, label: str, child: str, key: str) -> str:
    """Soft-deleted rows of ``table``, oldest first, with how many ``child`` rows point at
    each (through ``key``). The names are this module's constants, never input."""
    return f"""
        SELECT t.id, t.{label}, t."updatedAt", coalesce(c.n, 0)
        FROM {table} t
        LEFT JOIN (SELECT c."{key}", count(*) AS n FROM {child} c
                   JOIN {table} d ON d.id = c."{key}" AND NOT d."isActive"
                   GROUP BY 1) c ON c."{key}" = t.id
        WHERE NOT t."isActive" ORDER BY t."updatedAt", t.id"""


def _inactive(
    rid: str, label: str, at: datetime, now: datetime, action: str, reason: str | None
) -> InactiveRecord:
    when = from_db_time(at)
    return InactiveRecord(
        id=rid,
        label=label,
        soft_deleted_at=when.isoformat(),
        age_seconds=age_seconds(when, now),
        purge_action=action,
        reason=reason,
    )


def is_anonymised(email: str) -> bool:
    return email.startswith("deleted-") and email.endswith("@invalid")


def _user_action(email: str, orders: int) -> tuple[str, str | None]:
    if is_anonymised(email):
        return ("keep", "already anonymised, has orders") if orders else ("delete", None)
    if orders:
        return "anonymise", f"has {orders} order(s), kept as tax records"
    return "delete", None


def _product_action(items: int) -> tuple[str, str | None]:
    if items:
        return "keep", f"in {items} order item(s)"
    return "delete", None


# --- restore-inactive --------------------------------------------------------------------


@dataclass(frozen=True)
class ReactivatePlan:
    """What ``restore-inactive`` will bring back, and what it cannot (anonymised users)."""

    database: str
    production: bool
    since: str | None
    users: list[str]  # ids
    user_emails: list[str]
    products: list[str]  # ids
    product_skus: list[str]
    refused: list[str]  # "email: why"
    not_soft_deleted: list[str]
    dry_run: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return not (self.users or self.products)


@dataclass(frozen=True)
class ReactivateResult:
    database: str
    users_restored: list[str]
    products_restored: list[str]
    skipped: list[str]  # planned ids the application changed since (no longer soft-deleted)
    batches: int
    longest_batch_seconds: float
    duration_seconds: float


def plan_reactivate(
    target: DatabaseTarget,
    selection: Selection,
    *,
    since: datetime | None,
    environment: Any,
) -> ReactivatePlan:
    """Which soft-deleted records ``restore-inactive`` brings back (``updatedAt >= since``)."""
    from lumidb.seed import require_migrated

    with connect(target, application_name=APPLICATION_NAME) as conn:
        require_migrated(conn, target.schema)
        scope = resolve_selection(conn, selection)
        production = production_of(conn, environment)
        users: list[str] = []
        emails: list[str] = []
        refused: list[str] = []
        products: list[str] = []
        skus: list[str] = []
        since_sql, since_args = (
            ("", ()) if since is None else (' AND "updatedAt" >= %s', (db_time(since),))
        )
        if scope.user_ids is None or scope.user_ids:
            for uid, email in _soft_deleted(
                conn, "users", "email", scope.user_ids, since_sql, since_args
            ):
                if is_anonymised(email):
                    refused.append(
                        f"user {uid} ({email}): anonymised by a purge, its personal data is gone"
                    )
                else:
                    users.append(uid)
                    emails.append(email)
        if scope.product_ids is None or scope.product_ids:
            for pid, sku in _soft_deleted(
                conn, "products", "sku", scope.product_ids, since_sql, since_args
            ):
                products.append(pid)
                skus.append(sku)
    return ReactivatePlan(
        database=target.dbname,
        production=production,
        since=since.isoformat() if since else None,
        users=users,
        user_emails=emails,
        products=products,
        product_skus=skus,
        refused=refused,
        not_soft_deleted=scope.active,
    )


def _soft_deleted(
    conn: Any,
    table: str,
    label: str,
    ids: list[str] | None,
    since_sql: str,
    since_args: tuple[Any, ...],
) -> Any:
    """(id, label) of the soft-deleted rows of ``table`` in scope, by id; the names are
    this module's constants, never input."""
    where, args = scope_clause("id", ids)
    return conn.execute(
        f'SELECT id, {label} FROM {table} WHERE NOT "isActive"'
        + where
        + since_sql
        + " ORDER BY id",
        (*args, *since_args),
    )


def reactivate(
    target: DatabaseTarget,
    plan: ReactivatePlan,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    lock_timeout: float = 30.0,
    progress: Progress | None = None,
) -> ReactivateResult:
    """Carry out ``plan`` under lumidb's lock, ``batch_size`` rows per transaction.

    Each batch re-checks ``isActive = false`` (and, for users, that the row is not
    anonymised) in its own statement, so it only ever flips what is still soft-deleted.
    """
    from lumidb.locks import database_lock

    if batch_size < 1:
        raise UsageError("the batch size must be at least 1")
    stamp = db_time(now)
    started = time.monotonic()
    longest = 0.0
    batches = 0
    restored: dict[str, list[str]] = {"users": [], "products": []}
    statements = {
        "users": 'UPDATE users SET "isActive" = true, "updatedAt" = %s WHERE id = ANY(%s) '
        'AND NOT "isActive" AND email NOT LIKE %s RETURNING id',
        "products": 'UPDATE products SET "isActive" = true, "updatedAt" = %s WHERE id = ANY(%s) '
        'AND NOT "isActive" RETURNING id',
    }
    with (
        database_lock(target, "restore-inactive", timeout=lock_timeout),
        connect(target, application_name="lumidb restore-inactive", autocommit=False) as conn,
    ):
        for table, ids in (("users", plan.users), ("products", plan.products)):
            done = 0
            for batch in chunks(ids, batch_size):
                t0 = time.monotonic()
                args: tuple[Any, ...] = (stamp, batch)
                if table == "users":
                    args = (*args, ANONYMISED_EMAIL_LIKE)
                try:
                    with conn.transaction():
                        restored[table] += [r[0] for r in conn.execute(statements[table], args)]
                except Exception as exc:
                    raise OperationError(
                        f"restore-inactive stopped in a batch of {table}: {exc}; "
                        "earlier batches are committed, rerun to finish"
                    ) from exc
                seconds = time.monotonic() - t0
                longest = max(longest, seconds)
                batches += 1
                done += len(batch)
                if progress is not None:
                    progress(BatchProgress(table, done, len(ids), seconds))
    wanted = set(plan.users) | set(plan.products)
    skipped = sorted(wanted - set(restored["users"]) - set(restored["products"]))
    return ReactivateResult(
        database=target.dbname,
        users_restored=restored["users"],
        products_restored=restored["products"],
        skipped=skipped,
        batches=batches,
        longest_batch_seconds=round(longest, 3),
        duration_seconds=round(time.monotonic() - started, 3),
    )
