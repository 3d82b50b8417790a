"""What the soft-delete commands show: ``inactive``, ``purge`` and ``restore-inactive``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from lumidb.console import Output
from lumidb.views.wording import View, age_text, safety_backup_line, some

if TYPE_CHECKING:
    from lumidb.purge import PurgePlan, PurgeResult
    from lumidb.softdelete import InactiveListing, ReactivatePlan, ReactivateResult


def purge_plan(output: Output, plan: PurgePlan) -> None:
    say = output.out.print
    if plan.production:
        say("[bold red]PRODUCTION[/] database: this removes production data for good")
    age = (
        "all soft-deleted rows"
        if not plan.older_than_seconds
        else (
            f"rows soft-deleted before {plan.cutoff[:19]} UTC ({age_text(plan.older_than_seconds)} ago)"
        )
    )
    say(f"purge  {escape(plan.database)}: {age}")
    for line in plan.not_soft_deleted:
        say(f"  not soft-deleted (nothing to do): {escape(line)}")
    say(
        f"  users:    delete {len(plan.users_delete)}, anonymise {len(plan.users_anonymise)}"
        f" (have orders), keep {len(plan.users_keep)}"
    )
    if plan.users_anonymise:
        say(f"    anonymise: {some(plan.users_anonymise)}")
    for kept in plan.users_keep[:10]:
        say(f"    keep {escape(kept.label)}: {escape(kept.reason)}")
    say(f"  products: delete {len(plan.products_delete)}, keep {len(plan.products_keep)}")
    for kept in plan.products_keep[:10]:
        say(f"    keep {escape(kept.label)}: {escape(kept.reason)}")
    say(f"  skin analyses of those users: delete {plan.skin_analyses_delete}")
    if plan.redact_orders:
        say(f"  orders of anonymised users: clear addresses and notes of {plan.orders_redact}")
    elif plan.users_anonymise:
        say("  orders of anonymised users: kept whole (--redact-orders clears addresses, notes)")
    if plan.nothing_to_do:
        say("nothing to do")
    elif plan.dry_run:
        say("dry run: nothing was changed")
    else:
        say(safety_backup_line(plan.safety_backup))


def purge_result(output: Output, result: PurgeResult) -> None:
    say = output.out.print
    say(
        f"[green]purged[/] {escape(result.database)}: deleted {len(result.users_deleted)} user(s) "
        f"and {len(result.products_deleted)} product(s), anonymised "
        f"{len(result.users_anonymised)} user(s), deleted {result.skin_analyses_deleted} skin "
        f"analyses"
        + (f", redacted {result.orders_redacted} order(s)" if result.orders_redacted else "")
    )
    say(
        f"  {result.batches} batch(es) in {result.duration_seconds:.1f}s, "
        f"longest {result.longest_batch_seconds:.2f}s"
    )
    for kept in result.skipped[:10]:
        say(f"  left alone {escape(kept.id)}: {escape(kept.reason)}")
    if result.safety_backup:
        say(f"  safety backup: {escape(result.safety_backup)}")
        say(f"  undo with:     {escape(result.undo_command or '')}")


def reactivate_plan(output: Output, plan: ReactivatePlan) -> None:
    say = output.out.print
    if plan.production:
        say("[bold red]PRODUCTION[/] database")
    since = f" soft-deleted since {plan.since}" if plan.since else ""
    say(f"restore-inactive  {escape(plan.database)}{since}")
    for line in plan.not_soft_deleted:
        say(f"  not soft-deleted (nothing to do): {escape(line)}")
    say(
        f"  users:    reactivate {len(plan.users)}"
        + (f": {some(plan.user_emails)}" if plan.users else "")
    )
    say(
        f"  products: reactivate {len(plan.products)}"
        + (f": {some(plan.product_skus)}" if plan.products else "")
    )
    for line in plan.refused:
        say(f"  [yellow]cannot restore[/] {escape(line)}")
    if plan.nothing_to_do:
        say("nothing to do")
    elif plan.dry_run:
        say("dry run: nothing was changed")


def reactivate_result(output: Output, result: ReactivateResult) -> None:
    output.out.print(
        f"[green]reactivated[/] {len(result.users_restored)} user(s) and "
        f"{len(result.products_restored)} product(s) in {escape(result.database)} "
        f"({result.batches} batch(es), {result.duration_seconds:.1f}s)"
    )
    if result.skipped:
        output.out.print(f"  left alone (changed since the plan): {some(result.skipped)}")


def inactive_listing(output: Output, listing: InactiveListing) -> None:
    if not (listing.users or listing.products):
        output.out.print(f"no soft-deleted users or products in {escape(listing.database)}")
        return
    table = Table(title=f"soft-deleted in {escape(listing.database)}")
    for column in ("kind", "email / SKU", "soft-deleted", "age", "purge would"):
        table.add_column(column)
    for kind, records in (("user", listing.users), ("product", listing.products)):
        for rec in records:
            action = rec.purge_action + (f" ({rec.reason})" if rec.reason else "")
            table.add_row(
                kind,
                escape(rec.label),
                rec.soft_deleted_at[:19],
                age_text(rec.age_seconds),
                escape(action),
            )
    output.out.print(table)


VIEWS: dict[str, View] = {
    "PurgePlan": purge_plan,
    "PurgeResult": purge_result,
    "ReactivatePlan": reactivate_plan,
    "ReactivateResult": reactivate_result,
    "InactiveListing": inactive_listing,
}
