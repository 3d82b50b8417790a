"""Which backups to keep: one pure planner for ``--keep``, ``backups prune`` and safety backups.

Every function here decides over a list of entries (newest first) and ``now``; none
reads the clock, takes a lock or deletes. Callers (``backup.create_backup`` and
``prune.prune_backups``) hold the folder's lock, plan here, then delete what the plan
says. The "newest good backup" rule (the newest whose checksum matches) is written once,
in ``newest_good``: ``restore-latest`` restores it and ``backups prune`` never deletes it.

- ``--keep N``: the newest N normal backups of the database stay.
- ``backups prune``: grandfather-father-son per database (the newest ``keep_last``, the
  newest of each of ``keep_daily`` days and ``keep_weekly`` ISO weeks, UTC), and the
  newest good one when none of those is good.
- Safety backups (undo copies of ``restore-latest``, ``reset``, ``purge``): per database
  the newest ``keep_last`` and every one newer than ``keep_days`` days, at most
  ``max_count``, so they never fill the disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from lumidb.backup_store import BackupEntry
from lumidb.errors import OperationError, UsageError
from lumidb.formats import BackupKind
from lumidb.storage import BackupLocation
from lumidb.storage.location import absolute_location

Good = Callable[[BackupEntry], bool | None]  # whether the checksum matches (None: no manifest)


@dataclass(frozen=True)
class SafetyRetention:
    """How many safety backups stay: the newest N, any newer than D days, at most M."""

    keep_last: int = 5
    keep_days: int = 7
    max_count: int = 20


@dataclass(frozen=True)
class Verdict:
    """One backup in a plan: kept (with why) or deleted (``reason`` None)."""

    entry: BackupEntry
    reason: str | None


def newest_good(
    entries: list[BackupEntry], good: Good
) -> tuple[BackupEntry | None, list[BackupEntry]]:
    """The newest entry (``entries`` newest first) whose checksum matches, and the damaged
    ones skipped before it."""
    skipped: list[BackupEntry] = []
    for entry in entries:
        if good(entry):
            return entry, skipped
        skipped.append(entry)
    return None, skipped


FUTURE_MARGIN = timedelta(minutes=5)  # clocks drift; beyond this a date is a lie


def is_future(entry: BackupEntry, now: datetime) -> bool:
    """Whether ``entry`` claims a start later than ``now`` (plus a few minutes)."""
    return entry.when > now + FUTURE_MARGIN


Source = tuple[str, str, str, str]  # (database, host, port, schema) of a manifest


def source_of(entry: BackupEntry) -> Source:
    """Which database a backup is of: two servers' ``lumiai`` are two databases."""
    manifest = entry.manifest
    if manifest is None:
        return ("", "", "", "")
    return (
        manifest.database,
        manifest.host or "",
        str(manifest.port or ""),
        manifest.db_schema or "",
    )


def by_database(entries: list[BackupEntry]) -> dict[Source, list[BackupEntry]]:
    """Entries grouped by the database they are of (name, host, port, schema), newest first."""
    groups: dict[Source, list[BackupEntry]] = {}
    for entry in entries:
        groups.setdefault(source_of(entry), []).append(entry)
    return groups


# --- the rules -------------------------------------------------------------------------


def safety_reasons(
    entries: list[BackupEntry], rule: SafetyRetention, now: datetime
) -> dict[str, str]:
    """Why each kept safety backup of one database (``entries`` newest first) is kept, by name."""
    reasons: dict[str, str] = {}
    recent_since = now - timedelta(days=rule.keep_days)
    for position, entry in enumerate(entries):
        if len(reasons) >= rule.max_count:
            break
        why = []
        if position < rule.keep_last:
            why.append("last")
        if entry.when >= recent_since:
            why.append(f"newer than {rule.keep_days}d")
        if why:
            reasons[entry.name] = ", ".join(why)
    return reasons


def gfs_reasons(
    entries: list[BackupEntry], keep_last: int, keep_daily: int, keep_weekly: int, good: Good
) -> dict[str, str]:
    """Why each kept normal backup of one database (``entries`` newest first) is kept, by name."""
    reasons: dict[str, list[str]] = {}
    for entry in entries[:keep_last]:
        reasons.setdefault(entry.name, []).append("last")
    days: list[date] = []
    weeks: list[tuple[int, int]] = []
    for entry in entries:
        day = entry.when.date()
        if day not in days and len(days) < keep_daily:
            days.append(day)
            reasons.setdefault(entry.name, []).append("daily")
        iso = entry.when.isocalendar()
        week = (iso[0], iso[1])
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            reasons.setdefault(entry.name, []).append("weekly")
    if not any(good(e) for e in entries if e.name in reasons):
        rest = [e for e in entries if e.name not in reasons]
        chosen, _ = newest_good(rest, good)
        if chosen is not None:
            reasons[chosen.name] = ["newest good"]
    return {name: ", ".join(why) for name, why in reasons.items()}


# --- the plans ---------------------------------------------------------------------------


def plan_keep(
    entries: list[BackupEntry], *, made: str, keep: int, now: datetime
) -> list[BackupEntry]:
    """``--keep``: the normal backups of ``made``'s database (same name, host, port and
    schema) beyond the newest ``keep``, never ``made``; one dated in the future neither
    counts nor goes."""
    mine = next((entry for entry in entries if entry.name == made), None)
    if mine is None or mine.manifest is None:
        return []
    group = [e for e in by_database(entries)[source_of(mine)] if not is_future(e, now)]
    return [e for e in group[keep:] if e.name != made]


def plan_safety(
    entries: list[BackupEntry], *, made: str, rule: SafetyRetention, now: datetime
) -> list[BackupEntry]:
    """The safety backups of ``made``'s database beyond ``rule``, never ``made`` itself
    (whatever the clocks say)."""
    mine = next((entry for entry in entries if entry.name == made), None)
    if mine is None:
        return []
    group = by_database(entries)[source_of(mine)]
    kept = safety_reasons(group, rule, now)
    return [e for e in group if e.name not in kept and e.name != made]


def plan_prune(
    backups: list[BackupEntry],
    safety: list[BackupEntry],
    *,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    rule: SafetyRetention,
    now: datetime,
    good: Good,
) -> list[Verdict]:
    """``backups prune``: a verdict for every normal and safety backup, per database."""
    verdicts: list[Verdict] = []
    future = [e for e in backups + safety if is_future(e, now)]  # kept, never counted
    backups = [e for e in backups if not is_future(e, now)]
    safety = [e for e in safety if not is_future(e, now)]
    groups = [
        (group, gfs_reasons(group, keep_last, keep_daily, keep_weekly, good))
        for group in by_database(backups).values()
    ] + [(group, safety_reasons(group, rule, now)) for group in by_database(safety).values()]
    for group, reasons in groups:
        verdicts += [Verdict(entry, reasons.get(entry.name)) for entry in group]
    verdicts += [Verdict(entry, "dated in the future: check it") for entry in future]
    return verdicts


# --- what restore-latest restores ---------------------------------------------------------


def _same_server(entry: BackupEntry, host: str, port: int) -> bool:
    """Whether ``entry`` was taken from the server at ``host:port`` (a manifest that does
    not say, as lumidb 0.x wrote them, is taken at its word: it names the database)."""
    manifest = entry.manifest
    if manifest is None or manifest.host is None:
        return True
    return manifest.host == host and (manifest.port is None or manifest.port == port)


def latest_good_backup(
    backup_dir: BackupLocation,
    database: str,
    *,
    server: tuple[str, int] | None = None,
    now: datetime,
) -> tuple[BackupEntry, list[str]]:
    """The newest backup of ``database`` (kind ``backup``, by its manifest) whose checksum
    matches.

    Only backups whose manifest names ``database`` are candidates: two databases sharing
    a folder never restore each other's backups. With ``server`` (host, port: the target's,
    when no ``--from-database`` was given) only backups taken from that server are, so a
    same-named database of another server is never restored by default. One dated later
    than ``now`` (plus a few minutes) is skipped. Safety backups, legacy files and
    temporary files are never candidates. Returns the entry and a warning for each newer
    one skipped.
    """
    from lumidb import backup_read, backup_store

    if isinstance(backup_dir, Path) and not backup_dir.is_dir():
        if backup_dir.exists():
            raise UsageError(f"{backup_dir.resolve()} is not a folder")
        raise OperationError(
            f"no backup directory at {backup_dir.resolve()}: nothing to restore",
            hint="set LUMIDB_BACKUP_DIR, or give a backup with --file",
        )
    entries = backup_store.list_backups(backup_dir, kinds={BackupKind.BACKUP})
    named = [e for e in entries if e.database == database]
    elsewhere = sorted(
        {
            f"{e.manifest.host}:{e.manifest.port}"
            for e in named
            if server is not None and e.manifest is not None and not _same_server(e, *server)
        }
    )
    mine = [e for e in named if server is None or _same_server(e, *server)]
    warnings = [
        f"skipped {e.file_name}: it claims to start at {e.when.isoformat()}, in the future"
        for e in mine
        if is_future(e, now)
    ]
    others = {e.database for e in entries if e.database and e.database != database}
    chosen, skipped = newest_good(
        [e for e in mine if not is_future(e, now)], backup_read.checksum_matches
    )
    warnings += [
        f"skipped {e.file_name}: its checksum does not match its manifest (damaged?)"
        for e in skipped
    ]
    if chosen is not None:
        return chosen, warnings
    hint = "run `lumidb backup` first, or give a backup with --file"
    if elsewhere:
        hint = (
            f"backups of {database} from other servers are there ({', '.join(elsewhere[:3])}): "
            f"to restore one of them, say so with --from-database {database}, or give a "
            "backup with --file"
        )
    elif others:
        hint = (
            "backups of other databases are there ("
            + ", ".join(sorted(others))
            + "): to restore one of them, say so with "
            + " or ".join(f"--from-database {name}" for name in sorted(others)[:3])
            + ", or give a backup with --file"
        )
    damaged = len(skipped)
    future = len(mine) - len(skipped)  # nothing chosen: every other one was future-dated
    raise OperationError(
        f"no complete backup of {database} in {absolute_location(backup_dir)}"
        + (f" with a matching checksum ({damaged} damaged)" if damaged else "")
        + (f" ({future} dated in the future, skipped)" if future else ""),
        hint=hint,
    )
