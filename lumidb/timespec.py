"""Time as lumidb takes it: the one real clock, durations (``30d``), points in time, ages.

Code that decides by the clock (retention, ages, ``--older-than``, ``--since``) takes the
current time as a parameter; only the command layer calls ``utc_now``, once per run, so
tests pin the time by passing it. Everything here is UTC: days and weeks are UTC days
and ISO weeks, whatever the machine's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from lumidb.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$", re.IGNORECASE)
_DURATION_HELP = "a number and a unit: s, m, h, d or w (e.g. 30d, 12h, 2w)"


def utc_now() -> datetime:
    """The real clock, in UTC: for the command layer only; the core takes ``now``."""
    return datetime.now(UTC)


def parse_duration(text: str, *, option: str) -> timedelta:
    """``30d`` → 30 days. ``0`` is allowed (no age limit); a bad value is a ``UsageError``."""
    if text.strip() == "0":
        return timedelta(0)
    match = _DURATION_RE.match(text)
    if match is None:
        raise UsageError(f"{option} {text!r} is not a duration; give {_DURATION_HELP}")
    amount, unit = int(match.group(1)), match.group(2).lower()
    return timedelta(seconds=amount * _UNITS[unit])


def parse_since(text: str, *, now: datetime, option: str) -> datetime:
    """A point in time: a UTC date (``2026-11-01``), a date and time (UTC unless it says
    otherwise), or a duration back from ``now`` (``7d``). Future times are a ``UsageError``."""
    raw = text.strip()
    when: datetime | None = None
    if _DURATION_RE.match(raw):
        when = now - parse_duration(raw, option=option)
    else:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"{option} {text!r} is neither a date (2026-11-01, UTC), a date and time "
                f"(2026-11-01T08:30:00Z) nor a duration ({_DURATION_HELP})"
            ) from None
        when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if when > now:
        raise UsageError(f"{option} {text!r} is in the future")
    return when


def age_seconds(when: datetime, now: datetime) -> float:
    """How long before ``now`` something happened, in seconds (negative: in the future)."""
    return round((now - when).total_seconds(), 3)
