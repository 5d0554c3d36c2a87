"""Zoom's input rules for meeting create/update bodies, as the emulator enforces them.

A failure is a `ValidationFailed` carrying Zoom's 300 body (`errors[]` names the field).
Unknown fields are accepted, as Zoom does (zoomus puts `user_id`/`id` in the body).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.domain.meeting import InvalidTimezone, parse_timezone

MEETING_TYPES = frozenset({1, 2, 3, 8})
_START_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z?)$")


class ValidationFailed(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "code": 300,
            "message": "Validation Failed.",
            "errors": [{"field": self.field, "message": self.message}],
        }


@dataclass(frozen=True)
class MeetingFields:
    """The recognised fields of a body; None means "not given" (so PATCH leaves it alone)."""

    topic: str | None
    type: int | None
    start_time: datetime | None
    duration: int | None
    timezone: str | None
    agenda: str | None
    password: str | None
    settings: dict[str, Any] | None


def parse_start_time(value: object, timezone: str) -> datetime:
    """`…Z` is GMT; without `Z` the wall clock is read in `timezone` (Zoom's documented rule)."""
    if not isinstance(value, str):
        raise ValidationFailed("start_time", "Invalid field.")
    match = _START_TIME.match(value)
    if match is None:
        raise ValidationFailed("start_time", "Invalid field.")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        if match.group(7) == "Z":
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        local = datetime(year, month, day, hour, minute, second, tzinfo=parse_timezone(timezone))
    except ValueError as exc:
        raise ValidationFailed("start_time", "Invalid field.") from exc
    return local.astimezone(UTC)


def _optional_str(body: dict[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(name, "Invalid field.")
    if len(value) > max_length:
        raise ValidationFailed(name, f"Length must be at most {max_length}.")
    return value


def _optional_positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    # bool is an int in Python but not in JSON Schema; Zoom refuses `true` for a number.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationFailed(name, "Invalid field.")
    return value


def parse_meeting_fields(body: object, *, default_timezone: str, creating: bool) -> MeetingFields:
    if not isinstance(body, dict):
        raise ValidationFailed("body", "Request Body should be a valid JSON object.")
    topic = _optional_str(body, "topic", 200)
    agenda = _optional_str(body, "agenda", 2000)
    password = _optional_str(body, "password", 10)
    timezone = _optional_str(body, "timezone", 64)
    if timezone is not None:
        try:
            parse_timezone(timezone)
        except InvalidTimezone as exc:
            raise ValidationFailed("timezone", "Invalid field.") from exc
    meeting_type = body.get("type")
    if meeting_type is not None and (isinstance(meeting_type, bool) or meeting_type not in MEETING_TYPES):
        raise ValidationFailed("type", "Invalid field.")
    if creating and meeting_type is None:
        meeting_type = 2
    duration = _optional_positive_int(body, "duration")
    start_time = None
    if body.get("start_time") is not None:
        start_time = parse_start_time(body["start_time"], timezone or default_timezone)
    elif creating and meeting_type in (2, 8):
        # A scheduled meeting needs its time; the emulator is stricter than Zoom's silent default.
        raise ValidationFailed("start_time", "start_time is required for a scheduled meeting.")
    settings = body.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise ValidationFailed("settings", "Invalid field.")
    return MeetingFields(topic, meeting_type, start_time, duration, timezone, agenda, password, settings)
