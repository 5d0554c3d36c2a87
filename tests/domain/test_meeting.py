"""The meeting model's values: schedules and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from service.domain.meeting import InvalidTimezone, Schedule, parse_timezone


@pytest.mark.parametrize(
    "start",
    [
        datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
    ],
)
def test_a_schedule_outside_1970_to_2200_is_refused_rather_than_overflowing_later(start: datetime) -> None:
    with pytest.raises(ValueError, match="between 1970 and 2200"):
        Schedule(start, 1, "UTC")


def test_a_schedule_too_long_to_have_an_end_is_refused() -> None:
    with pytest.raises(ValueError, match="duration_minutes"):
        Schedule(datetime(2199, 12, 31, tzinfo=UTC), 10**12, "UTC")


def test_every_schedule_that_exists_has_an_end() -> None:
    latest = Schedule(datetime(2200, 1, 1, tzinfo=UTC), 24 * 60, "Pacific/Kiritimati")
    assert latest.end == datetime(2200, 1, 2, tzinfo=UTC)
    assert latest.local_start().utcoffset() == timedelta(hours=14)


@pytest.mark.parametrize(
    "name",
    [
        "localtime",
        "posixrules",
        "Factory",
        "right/UTC",
        "posix/Europe/Berlin",
        "europe/berlin",
        "Mars/Olympus",
    ],
)
def test_only_canonical_iana_zone_names_are_time_zones(name: str) -> None:
    with pytest.raises(InvalidTimezone):
        parse_timezone(name)


@pytest.mark.parametrize(
    "name", ["UTC", "Etc/UTC", "Etc/GMT+5", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Asia/Kolkata"]
)
def test_iana_zone_names_are_time_zones(name: str) -> None:
    assert parse_timezone(name).key == name
