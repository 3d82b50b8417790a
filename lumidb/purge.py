"""Purge: remove soft-deleted users and products for good, keeping the order history whole.

The old script's ``deleteMany`` stopped at the first user with an order (foreign keys
RESTRICT) and left purged users' skin analyses behind with a NULL owner. Here:

- a soft-deleted product in an order item is kept, with the reason;
- a soft-deleted user with orders is anonymised instead (``deleted-<id>@invalid``, no
  name, a password no bcrypt check accepts); orders stay whole unless ``redact_orders``;
- a purged or anonymised user's skin analyses are deleted (anonymous scans stay).

``plan_purge`` says what will happen; ``purge`` does it under lumidb's lock, in batches
of one transaction each. Every batch first locks its rows with a statement that
re-checks ``isActive = false`` and the age, then looks for orders in a later statement:
a row the application reactivated is left alone, and a user who ordered meanwhile is
anonymised rather than deleted (their rows are locked, so no order can slip in between).
An interrupted purge leaves committed batches done and the rest untouched; a rerun
finishes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lumidb.backup import SafetyBackup

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import OperationError, UsageError
from lumidb.softdelete import (
    ANONYMISED_EMAIL_LIKE,
    APPLICATION_NAME,
    DEFAULT_BATCH,
    BatchProgress,
    Progress,
    Selection,
    db_time,
    production_of,
    resolve_selection,
    scope_clause,
)

# How long one batch should hold its row locks, at most about (batches shrink to fit).
TARGET_BATCH_S = 0.4
FIRST_BATCH = 200
# Not a bcrypt hash ("$2a$..."), so no password ever matches it.
UNUSABLE_PASSWORD = "!purged-by-lumidb"  # noqa: S105 (not a secret: a non-hash)


@dataclass(frozen=True)
class KeptRecord:
    id: str
    label: str
    reason: str


@dataclass(frozen=True)
class PurgeOptions:
    older_than: timedelta = timedelta(0)
    redact_orders: bool = False
    safety_backup: bool = True
    batch_size: int = DEFAULT_BATCH
    backup_dir: Path | str = Path("backups")  # a folder or an s3:// URL
    pg_bin_dir: Path | None = None
    environment: Any = "development"
    lock_timeout: float = 30.0
    safety_retention: Any = None  # lumidb.retention.SafetyRetention; None: its defaults


@dataclass(frozen=True)
class PurgePlan:
    """Per table: what is deleted, anonymised, kept and why. ``cutoff`` is UTC."""

    database: str
    production: bool
    cutoff: str
    older_than_seconds: float
    redact_orders: bool
    safety_backup: bool
    users_delete: list[str]
    users_anonymise: list[str]
    users_keep: list[KeptRecord]
    products_delete: list[str]
    products_keep: list[KeptRecord]
    skin_analyses_delete: int
    orders_redact: int
    not_soft_deleted: list[str]
    dry_run: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return not (self.users_delete or self.users_anonymise or self.products_delete)


@dataclass(frozen=True)
class PurgeResult:
    database: str
    users_deleted: list[str]
    users_anonymised: list[str]
    products_deleted: list[str]
    skipped: list[KeptRecord]  # planned rows the application changed meanwhile
    skin_analyses_deleted: int
    orders_redacted: int
    batches: int
    longest_batch_seconds: float
    duration_seconds: float
    safety_backup: str | None = None
    undo_command: str | None = None
    warnings: list[str] = field(default_factory=list)


def plan_purge(
    target: DatabaseTarget, selection: Selection, options: PurgeOptions, *, now: datetime
) -> PurgePlan:
    """Resolve the filters (unknown records: ``UsageError``) and classify every candidate."""
    if options.batch_size < 1:
        raise UsageError("LUMIDB_PURGE_BATCH must be at least 1")
    from lumidb.seed import require_migrated

    cutoff = db_time(now - options.older_than)
    with connect(target, application_name=APPLICATION_NAME) as conn:
        require_migrated(conn, target.schema)
        scope = resolve_selection(conn, selection)
        production = production_of(conn, options.environment)
        delete: list[str] = []
        anonymise: list[str] = []
        users_keep: list[KeptRecord] = []
        scans = redact = 0
        if scope.user_ids is None or scope.user_ids:
            where, args = scope_clause("u.id", scope.user_ids)
            rows = conn.execute(
                """
                WITH c AS (
                    SELECT u.id, u.email FROM users u
                    WHERE NOT u."isActive" AND u."updatedAt" <= %s"""
                + where
                + """)
                SELECT c.id, c.email, c.email LIKE %s, coalesce(o.n, 0), coalesce(s.n, 0)
                FROM c
                LEFT JOIN (SELECT o."userId", count(*) AS n FROM orders o JOIN c ON c.id = o."userId"
                           GROUP BY 1) o ON o."userId" = c.id
                LEFT JOIN (SELECT s."userId", count(*) AS n FROM skin_analyses s
                           JOIN c ON c.id = s."userId" GROUP BY 1) s ON s."userId" = c.id
                ORDER BY c.id""",
                (cutoff, *args, ANONYMISED_EMAIL_LIKE),
            ).fetchall()
            for uid, email, anonymised, orders, user_scans in rows:
                if orders and anonymised:
                    users_keep.append(KeptRecord(uid, email, "already anonymised, has orders"))
                    continue
                scans += user_scans
                if orders:
                    anonymise.append(uid)
                    redact += orders if options.redact_orders else 0
                else:
                    delete.append(uid)
        products_delete: list[str] = []
        products_keep: list[KeptRecord] = []
        if scope.product_ids is None or scope.product_ids:
            where, args = scope_clause("p.id", scope.product_ids)
            for pid, sku, items in conn.execute(
                """
                WITH c AS (
                    SELECT p.id, p.sku FROM products p
                    WHERE NOT p."isActive" AND p."updatedAt" <= %s"""
                + where
                + """)
                SELECT c.id, c.sku, coalesce(i.n, 0) FROM c
                LEFT JOIN (SELECT i."productId", count(*) AS n FROM order_items i
                           JOIN c ON c.id = i."productId" GROUP BY 1) i ON i."productId" = c.id
                ORDER BY c.id""",
                (cutoff, *args),
            ):
                if items:
                    products_keep.append(KeptRecord(pid, sku, f"in {items} order item(s)"))
                else:
                    products_delete.append(pid)
        too_recent = _too_recent(conn, scope, cutoff)
    return PurgePlan(
        database=target.dbname,
        production=production,
        cutoff=cutoff.isoformat() + "Z",
        older_than_seconds=options.older_than.total_seconds(),
        redact_orders=options.redact_orders,
        safety_backup=options.safety_backup,
        users_delete=delete,
        users_anonymise=anonymise,
        users_keep=users_keep + too_recent[0],
        products_delete=products_delete,
        products_keep=products_keep + too_recent[1],
        skin_analyses_delete=scans,
        orders_redact=redact,
        not_soft_deleted=scope.active,
    )


def _too_recent(
    conn: Any, scope: Any, cutoff: datetime
) -> tuple[list[KeptRecord], list[KeptRecord]]:
    """Named records soft-deleted after the cutoff: kept, and the plan says why."""
    found: list[list[KeptRecord]] = []
    for table, label, ids in (
        ("users", "email", scope.user_ids),
        ("products", "sku", scope.product_ids),
    ):
        if not ids:
            found.append([])
            continue
        found.append(
            [
                KeptRecord(rid, text, "soft-deleted more recently than --older-than")
                for rid, text in conn.execute(
                    f'SELECT id, {label} FROM {table} WHERE NOT "isActive" '
                    'AND "updatedAt" > %s AND id = ANY(%s) ORDER BY id',
                    (cutoff, ids),
                )
            ]
        )
    return found[0], found[1]


def purge(
    target: DatabaseTarget,
    plan: PurgePlan,
    options: PurgeOptions,
    *,
    now: datetime,
    progress: Progress | None = None,
    notify: Any = None,
) -> PurgeResult:
    """Carry out ``plan`` under lumidb's lock: safety backup, then batches of one transaction."""
    from lumidb.locks import database_lock

    say = notify or (lambda _message: None)
    started = time.monotonic()
    cutoff = datetime.fromisoformat(plan.cutoff.removesuffix("Z"))
    stamp = db_time(now)
    safety: str | None = None
    undo: str | None = None
    run = _Run()
    with database_lock(target, "purge", timeout=options.lock_timeout):
        if options.safety_backup:
            taken = _safety_backup(target, options, now)
            safety, undo = taken.path, taken.undo_command
            say(f"safety backup: {safety} (undo with: {undo})")
        with connect(target, application_name="lumidb purge", autocommit=False) as conn:
            try:
                users = plan.users_delete + plan.users_anonymise
                for batch in _Batches(users, options.batch_size):
                    with conn.transaction():
                        _purge_users(conn, batch.ids, cutoff, stamp, options.redact_orders, run)
                    run.finished_batch("users", batch, progress)
                for batch in _Batches(plan.products_delete, options.batch_size):
                    with conn.transaction():
                        _purge_products(conn, batch.ids, cutoff, run)
                    run.finished_batch("products", batch, progress)
            except KeyboardInterrupt:
                raise OperationError(
                    f"interrupted after {run.batches} batch(es): those are committed, the "
                    "batch under way was rolled back; the database is consistent",
                    hint="run the same purge again to finish"
                    + (f", or undo what was done with: {undo}" if undo else ""),
                ) from None
            except OperationError:
                raise
            except Exception as exc:
                raise OperationError(
                    f"purge stopped after {run.batches} committed batch(es): {exc}",
                    hint="the database is consistent; fix the cause and run the purge again"
                    + (f", or undo what was done with: {undo}" if undo else ""),
                ) from exc
    return PurgeResult(
        database=target.dbname,
        users_deleted=run.users_deleted,
        users_anonymised=run.users_anonymised,
        products_deleted=run.products_deleted,
        skipped=run.skipped,
        skin_analyses_deleted=run.scans,
        orders_redacted=run.redacted,
        batches=run.batches,
        longest_batch_seconds=round(run.longest, 3),
        duration_seconds=round(time.monotonic() - started, 3),
        safety_backup=safety,
        undo_command=undo,
    )


class _Run:
    """What the batches did so far."""

    def __init__(self) -> None:
        self.users_deleted: list[str] = []
        self.users_anonymised: list[str] = []
        self.products_deleted: list[str] = []
        self.skipped: list[KeptRecord] = []
        self.scans = 0
        self.redacted = 0
        self.batches = 0
        self.longest = 0.0

    def finished_batch(self, table: str, batch: _Batch, progress: Progress | None) -> None:
        seconds = batch.finish()
        self.batches += 1
        self.longest = max(self.longest, seconds)
        if progress is not None:
            progress(BatchProgress(table, batch.done, batch.total, seconds))


class _Batch:
    def __init__(self, owner: _Batches, ids: list[str], done: int) -> None:
        self.owner, self.ids, self.done, self.total = owner, ids, done, len(owner.ids)
        self.started = time.monotonic()

    def finish(self) -> float:
        seconds = time.monotonic() - self.started
        self.owner.adapt(seconds)
        return seconds


class _Batches:
    """Up to ``size`` ids per batch, fewer while batches take longer than ``TARGET_BATCH_S``.

    Some deletes cost more per row than others (``order_items."productId"`` has no index,
    so each product's RESTRICT check reads the whole table): shrinking the batch keeps
    the time a batch holds its locks near the target whatever a row costs.
    """

    def __init__(self, ids: list[str], size: int) -> None:
        self.ids, self.max_size, self.position = ids, size, 0
        self.size = min(size, FIRST_BATCH)  # grows while batches stay short

    def __iter__(self) -> Iterator[_Batch]:
        while self.position < len(self.ids):
            chunk = self.ids[self.position : self.position + self.size]
            self.position += len(chunk)
            yield _Batch(self, chunk, self.position)

    def adapt(self, seconds: float) -> None:
        wanted = int(self.size * TARGET_BATCH_S / max(seconds, 0.001))
        self.size = max(1, min(self.max_size, self.size * 3 // 2 + 1, wanted))


def _purge_users(
    conn: Any, batch: list[str], cutoff: datetime, stamp: datetime, redact: bool, run: _Run
) -> None:
    # 1. Lock what is still soft-deleted and old enough; a reactivated user drops out here.
    locked = [
        r[0]
        for r in conn.execute(
            'SELECT id FROM users WHERE id = ANY(%s) AND NOT "isActive" AND "updatedAt" <= %s '
            "ORDER BY id FOR UPDATE",
            (batch, cutoff),
        )
    ]
    gone = set(batch) - set(locked)
    run.skipped += [KeptRecord(u, u, "reactivated or changed since the plan") for u in sorted(gone)]
    if not locked:
        return
    # 2. A later statement sees every committed order; none can be added now (rows locked).
    with_orders = {
        r[0]
        for r in conn.execute(
            'SELECT DISTINCT "userId" FROM orders WHERE "userId" = ANY(%s)', (locked,)
        )
    }
    anonymise = [u for u in locked if u in with_orders]
    already = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM users WHERE id = ANY(%s) AND email LIKE %s",
            (anonymise, ANONYMISED_EMAIL_LIKE),
        )
    }
    anonymise = [u for u in anonymise if u not in already]
    delete = [u for u in locked if u not in with_orders]
    run.scans += conn.execute(
        'DELETE FROM skin_analyses WHERE "userId" = ANY(%s)', (anonymise + delete,)
    ).rowcount
    if delete:
        run.users_deleted += [
            r[0]
            for r in conn.execute("DELETE FROM users WHERE id = ANY(%s) RETURNING id", (delete,))
        ]
    if anonymise:
        run.users_anonymised += [
            r[0]
            for r in conn.execute(
                """
                UPDATE users SET email = 'deleted-' || id || '@invalid', name = NULL,
                       password = %s, "updatedAt" = %s
                WHERE id = ANY(%s) RETURNING id""",
                (UNUSABLE_PASSWORD, stamp, anonymise),
            )
        ]
        if redact:
            run.redacted += conn.execute(
                """
                UPDATE orders SET "shippingAddress" = NULL, "billingAddress" = NULL,
                       notes = NULL, "updatedAt" = %s
                WHERE "userId" = ANY(%s)""",
                (stamp, anonymise),
            ).rowcount


def _purge_products(conn: Any, batch: list[str], cutoff: datetime, run: _Run) -> None:
    locked = [
        r[0]
        for r in conn.execute(
            'SELECT id FROM products WHERE id = ANY(%s) AND NOT "isActive" AND "updatedAt" <= %s '
            "ORDER BY id FOR UPDATE",
            (batch, cutoff),
        )
    ]
    deleted = [
        r[0]
        for r in conn.execute(
            "DELETE FROM products p WHERE id = ANY(%s) AND NOT EXISTS "
            '(SELECT 1 FROM order_items i WHERE i."productId" = p.id) RETURNING id',
            (locked,),
        )
    ]
    run.products_deleted += deleted
    left = set(batch) - set(deleted)
    run.skipped += [
        KeptRecord(p, p, "reactivated, changed or ordered since the plan") for p in sorted(left)
    ]


def _safety_backup(target: DatabaseTarget, options: PurgeOptions, now: datetime) -> SafetyBackup:
    from lumidb.backup import take_safety_backup

    return take_safety_backup(
        target,
        backup_dir=options.backup_dir,
        pg_bin_dir=options.pg_bin_dir,
        environment=getattr(options.environment, "value", str(options.environment)),
        retention=options.safety_retention,
        now=now,
    )
