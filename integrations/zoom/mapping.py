"""Pure translation between salesmeet's requests/reports and Zoom's payloads (no I/O)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from integrations.base import (
    AttendanceReport,
    AttendeeRegistration,
    MeetingRequest,
    ProviderMeeting,
    ReportedSession,
)
from integrations.zoom.config import ZoomConfig
from integrations.zoom.identity import participant_id
from service.domain.meeting import (
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MeetingKind,
    check_instant,
    display_text,
    require_utc,
    storable_email,
)

SCHEDULED_MEETING = 2
# Registration settings: approval_type 0 approves every registrant at once; registration_type 1
# registers once for every occurrence.
AUTOMATIC_APPROVAL = 0
NO_REGISTRATION = 2
REGISTER_ONCE = 1


def registers_attendees(request: MeetingRequest, settings: ZoomConfig) -> bool:
    """Whether this meeting's external attendees are registered on Zoom (a customer meeting)."""
    return settings.register_external_attendees and request.kind is MeetingKind.CUSTOMER


def external_attendees(request: MeetingRequest) -> list[tuple[str, str | None]]:
    """(e-mail, name) of the attendees to register, in a stable order."""
    return sorted((p.email, p.name) for p in request.attendees if p.email in request.external_emails)


def meeting_settings(request: MeetingRequest, settings: ZoomConfig) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "waiting_room": settings.waiting_room,
        "join_before_host": settings.join_before_host,
        "meeting_invitees": [{"email": person.email} for person in request.attendees],
    }
    if registers_attendees(request, settings):
        fields.update(
            approval_type=AUTOMATIC_APPROVAL,
            registration_type=REGISTER_ONCE,
            registrants_email_notification=settings.registrant_emails,
            registrants_confirmation_email=settings.registrant_emails,
        )
    return fields


def registrant_fields(email: str, name: str | None) -> dict[str, Any]:
    """A registrant: Zoom requires a first name; the e-mail's local part stands in for a missing one."""
    first, _, last = (name or "").strip().partition(" ")
    fields: dict[str, Any] = {"email": email, "first_name": first or email.partition("@")[0]}
    if last.strip():
        fields["last_name"] = last.strip()
    return fields


def registration(email: str, body: Mapping[str, Any]) -> AttendeeRegistration:
    """An add-registrant answer (or a listed registrant) as the attendee's registration."""
    registrant_id = body.get("registrant_id") or body.get("id")
    join_url = body.get("join_url")
    if not isinstance(registrant_id, str) or not registrant_id or not isinstance(join_url, str):
        raise ValueError("Zoom registrant answer lacks a registrant id or a join_url")
    if len(registrant_id) > MAX_ID_LENGTH:
        raise ValueError("Zoom registrant id is not storable")
    return AttendeeRegistration(email=email, registrant_id=registrant_id, join_url=join_url)


def listed_registrations(page: Mapping[str, Any]) -> list[AttendeeRegistration]:
    """The approved registrants of a list-registrants page, by lower-cased e-mail."""
    found = []
    registrants = page.get("registrants")
    for row in registrants if isinstance(registrants, list) else []:
        if isinstance(row, dict) and isinstance(row.get("email"), str):
            found.append(registration(str(row["email"]).strip().lower(), row))
    return found


def schedule_fields(request: MeetingRequest, settings: ZoomConfig) -> dict[str, Any]:
    """The fields create and update share.

    `start_time` is an aware UTC datetime: zoomus formats it as `%Y-%m-%dT%H:%M:%SZ` without
    converting, so it must already be UTC for the `Z` to be true (the same instant, across DST).
    """
    fields: dict[str, Any] = {
        "topic": request.title,
        "start_time": require_utc(request.start),
        "duration": request.duration_minutes,
        "timezone": request.timezone,
        "settings": meeting_settings(request, settings),
    }
    if request.agenda is not None:
        fields["agenda"] = request.agenda
    return fields


def create_fields(request: MeetingRequest, settings: ZoomConfig) -> dict[str, Any]:
    fields = {"type": SCHEDULED_MEETING, **schedule_fields(request, settings)}
    if settings.passcode:
        fields["password"] = f"{secrets.randbelow(10**8):08d}"
    return fields


def provider_meeting(body: Mapping[str, Any]) -> ProviderMeeting:
    meeting_id = body.get("id")
    join_url = body.get("join_url")
    if not isinstance(meeting_id, int) or not isinstance(join_url, str):
        raise ValueError("Zoom meeting answer lacks a numeric id or a join_url")
    start_url = body.get("start_url")
    extra = {"uuid": body["uuid"]} if isinstance(body.get("uuid"), str) else {}
    return ProviderMeeting(
        provider_meeting_id=str(meeting_id),
        join_url=join_url,
        start_url=start_url if isinstance(start_url, str) else None,
        extra=extra,
    )


# Zoom's clock and ours disagree by a little; a meeting created this long before we sent is still ours.
CREATED_AT_SLACK = timedelta(minutes=5)


def created_by(listed: object, request: MeetingRequest, since: datetime) -> str | None:
    """The id of the first-created listed meeting that a create of `request` sent at `since` made.

    Zoom keeps no idempotency key, so the meeting is recognised by what was asked: the same topic,
    start and duration, created no earlier than the request was sent (less clock slack).
    """
    if not isinstance(listed, list):
        return None
    wanted_start = require_utc(request.start).strftime("%Y-%m-%dT%H:%M:%SZ")
    candidates: list[tuple[datetime, str]] = []
    for meeting in listed:
        if not isinstance(meeting, dict):
            continue
        meeting_id, created_at = meeting.get("id"), _zoom_instant(meeting.get("created_at"))
        if (
            isinstance(meeting_id, int)
            and created_at is not None
            and created_at >= since - CREATED_AT_SLACK
            and meeting.get("topic") == request.title
            and meeting.get("start_time") == wanted_start
            and meeting.get("duration") == request.duration_minutes
        ):
            candidates.append((created_at, str(meeting_id)))
    return min(candidates)[1] if candidates else None


def _zoom_instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def report_path_ref(meeting_id_or_uuid: str) -> str:
    """A meeting id or instance uuid as a path segment, under Zoom's double-encoding rule."""
    once = quote(meeting_id_or_uuid, safe="")
    if meeting_id_or_uuid.startswith("/") or "//" in meeting_id_or_uuid:
        return quote(once, safe="")
    return once


def parse_zoom_time(value: object) -> datetime | None:
    """An aware instant, None when blank; ValueError when it has no offset or lies outside
    1970..2200 (checked before converting: converting one near datetime's limits overflows)."""
    if not isinstance(value, str) or not value:
        return None
    return require_utc(check_instant(datetime.fromisoformat(value)))


def reported_session(row: Mapping[str, Any], instance: str | None = None) -> ReportedSession | None:
    """One report row of `instance`; None for a row without usable times (Zoom leaves some blank)."""
    joined_at = parse_zoom_time(row.get("join_time"))
    left_at = parse_zoom_time(row.get("leave_time"))
    if joined_at is None or left_at is None:
        return None
    # Values are made storable by the rules the webhooks follow (integrations/zoom/webhook.py), so
    # both databases keep the same report and its rows match the webhooks' participants.
    email = storable_email(str(row.get("user_email") or ""))
    # Zoom user id for signed-in users; the per-meeting participant id (scoped by the instance) for
    # guests and phones: the rule the webhooks follow too.
    participant = participant_id(row.get("id"), row.get("user_id"), instance)
    if participant is not None and (len(participant) > MAX_ID_LENGTH or "\x00" in participant):
        raise ValueError(f"a report row's participant id is not storable (over {MAX_ID_LENGTH} or NUL)")
    name = display_text(str(row.get("name") or ""), MAX_NAME_LENGTH) or None
    registrant = str(row.get("registrant_id") or "").strip() or None
    if registrant is not None and (len(registrant) > MAX_ID_LENGTH or "\x00" in registrant):
        raise ValueError(f"a report row's registrant id is not storable (over {MAX_ID_LENGTH} or NUL)")
    return ReportedSession(
        email,
        participant,
        name,
        joined_at,
        left_at,
        registrant_id=registrant,
        # Time in the waiting room is its own figure, never attendance.
        in_waiting_room=row.get("status") == "in_waiting_room",
        instance=instance,
    )


def attendance_report(
    detail: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], instance: str | None = None
) -> AttendanceReport:
    """One instance's report. Its uuid (asked for, else the detail's) scopes guests' ids as the
    webhooks do; without one they could never match, so such a report is refused (ValueError)."""
    instance = instance or str(detail.get("uuid") or "") or None
    if instance is None:
        raise ValueError("the report names no meeting instance (uuid)")
    sessions = tuple(s for s in (reported_session(row, instance) for row in rows) if s is not None)
    return AttendanceReport(
        actual_start=parse_zoom_time(detail.get("start_time")),
        actual_end=parse_zoom_time(detail.get("end_time")),
        sessions=tuple(
            sorted(sessions, key=lambda s: (s.joined_at, s.email or "", s.provider_participant_id or ""))
        ),
    )


def past_instance_uuids(listing: Mapping[str, Any]) -> list[str]:
    """The instance uuids of a "list past meeting instances" answer, oldest first."""
    meetings = listing.get("meetings")
    found = [
        (str(m.get("start_time") or ""), str(m["uuid"]))
        for m in (meetings if isinstance(meetings, list) else [])
        if isinstance(m, dict) and m.get("uuid")
    ]
    return [uuid for _, uuid in sorted(found)]


def merge_reports(reports: Sequence[AttendanceReport]) -> AttendanceReport:
    """Several instances of one meeting as one report: first start, last end, every session."""
    starts = [r.actual_start for r in reports if r.actual_start is not None]
    ends = [r.actual_end for r in reports if r.actual_end is not None]
    sessions = [s for r in reports for s in r.sessions]
    return AttendanceReport(
        actual_start=min(starts, default=None),
        actual_end=max(ends, default=None),
        sessions=tuple(
            sorted(sessions, key=lambda s: (s.joined_at, s.email or "", s.provider_participant_id or ""))
        ),
    )
