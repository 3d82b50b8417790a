"""lumidb/timespec.py: durations, points in time and ages, all UTC, never the machine's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lumidb.errors import UsageError
from lumidb.timespec import age_seconds, parse_duration, parse_since

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, option="--older-than") == expected


@pytest.mark.parametrize("text", ["", "30", "-3d", "3y", "1.5h", "d", "30 days", "1d2h"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(UsageError, match=r"--older-than .* is not a duration"):
        parse_duration(text, option="--older-than")


def test_points_in_time_are_utc() -> None:
    assert parse_since("2026-11-01", now=NOW, option="--since") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-26T23:30:00", now=NOW, option="--since") == datetime(
        2026, 11, 26, 23, 30, tzinfo=UTC
    )
    # an explicit offset is honoured: 05:00 in India is 23:30 UTC the day before
    india = parse_since("2026-11-27T05:00:00+05:30", now=NOW, option="--since")
    assert india == datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    # 08:00 in India is 02:30 UTC: already past at 03:00 UTC, though later than 03:00 local
    past = parse_since("2026-11-27T08:00:00+05:30", now=NOW, option="--since")
    assert past == datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
    assert parse_since("7d", now=NOW, option="--since") == NOW - timedelta(days=7)
    assert parse_since("2026-11-27T02:59:59Z", now=NOW, option="--since").tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "is neither a date"),
        ("2026-13-01", "is neither a date"),
        ("2026-11-28", "is in the future"),
        ("2026-11-27T09:00:00+05:30", "is in the future"),  # 03:30 UTC
    ],
)
def test_bad_points_in_time(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_since(text, now=NOW, option="--since")


def test_ages() -> None:
    assert age_seconds(NOW - timedelta(hours=2), NOW) == 7200
    ist = timezone(timedelta(hours=5, minutes=30))
    assert age_seconds(datetime(2026, 11, 27, 8, 0, tzinfo=ist), NOW) == 30 * 60
    assert age_seconds(NOW + timedelta(seconds=5), NOW) == -5
