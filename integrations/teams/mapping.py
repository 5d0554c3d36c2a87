"""Pure translation between salesmeet's requests/reports/events and Graph's payloads (no I/O).

Our provider meeting id is `{organizer object id}:{online meeting id}`: Graph addresses an online
meeting only under its organizer (`/users/{id}/onlineMeetings/{meetingId}`), and the port hands
cancel and reconciliation nothing but the id. Both parts are Graph's own ids (a GUID, and the
online meeting id exactly as Graph gave it); neither contains a colon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.base import AttendanceReport, MeetingRequest, ProviderMeeting, ReportedSession
from integrations.teams import identity
from integrations.teams.errors import TEAMS
from service.domain.events import AttendanceEvent, EventType
from service.domain.meeting import require_utc


@dataclass(frozen=True)
class MeetingRef:
    organizer_id: str
    online_meeting_id: str

    def __str__(self) -> str:
        return f"{self.organizer_id}:{self.online_meeting_id}"

    @classmethod
    def parse(cls, provider_meeting_id: str) -> MeetingRef:
        organizer_id, colon, online_meeting_id = provider_meeting_id.partition(":")
        if not colon or not organizer_id or not online_meeting_id or "/" in organizer_id:
            raise ValueError(f"not a Teams meeting id: {provider_meeting_id!r}")
        return cls(organizer_id, online_meeting_id)


def graph_time(moment: datetime) -> str:
    return require_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_graph_time(value: object) -> datetime | None:
    """Graph's times (`...Z`, up to seven fractional digits) as aware UTC, truncated to microseconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Graph's times without offset are UTC
    return parsed.astimezone(UTC)


def meeting_fields(request: MeetingRequest) -> dict[str, Any]:
    """What create and update share. Graph takes start and end together and the attendees as the
    full list; times are the same instants in UTC (Graph has no display time zone here)."""
    start = require_utc(request.start)
    return {
        "subject": request.title,
        "startDateTime": graph_time(start),
        "endDateTime": graph_time(start + timedelta(minutes=request.duration_minutes)),
        "participants": {
            "attendees": [{"upn": person.email, "role": "attendee"} for person in request.attendees]
        },
    }


def create_body(request: MeetingRequest) -> dict[str, Any]:
    """createOrGet keyed by our meeting's idempotency key: a retried create returns the same meeting."""
    return {"externalId": request.idempotency_key, **meeting_fields(request)}


def provider_meeting(organizer_id: str, body: Mapping[str, Any]) -> ProviderMeeting:
    meeting_id = body.get("id")
    join_url = body.get("joinWebUrl") or body.get("joinUrl")
    if not isinstance(meeting_id, str) or not meeting_id or not isinstance(join_url, str):
        raise ValueError("Graph's online meeting lacks an id or a joinWebUrl")
    extra = {"online_meeting_id": meeting_id, "organizer_id": organizer_id}
    settings = body.get("joinMeetingIdSettings")
    if isinstance(settings, Mapping) and isinstance(settings.get("joinMeetingId"), str):
        extra["join_meeting_id"] = settings["joinMeetingId"]
    return ProviderMeeting(
        provider_meeting_id=str(MeetingRef(organizer_id, meeting_id)), join_url=join_url, extra=extra
    )


# --- attendance reports (reconciliation) ------------------------------------------------------


def reported_sessions(records: Iterable[Mapping[str, Any]]) -> list[ReportedSession]:
    """Every attendance interval of every record; records that identify nobody are skipped."""
    sessions: list[ReportedSession] = []
    for record in records:
        who = identity.from_attendance_record(record)
        intervals = record.get("attendanceIntervals")
        if who is None or not isinstance(intervals, list):
            continue
        for interval in intervals:
            if not isinstance(interval, Mapping):
                continue
            joined = parse_graph_time(interval.get("joinDateTime"))
            left = parse_graph_time(interval.get("leaveDateTime"))
            if joined is None or left is None or left < joined:
                continue
            sessions.append(ReportedSession(who.email, who.provider_participant_id, who.name, joined, left))
    return sessions


def attendance_report(
    reports: Sequence[Mapping[str, Any]], sessions: Sequence[ReportedSession]
) -> AttendanceReport:
    """Every session's report of one online meeting as one: first start, last end, every interval."""
    starts = [t for t in (parse_graph_time(r.get("meetingStartDateTime")) for r in reports) if t is not None]
    ends = [t for t in (parse_graph_time(r.get("meetingEndDateTime")) for r in reports) if t is not None]
    return AttendanceReport(
        actual_start=min(starts, default=None),
        actual_end=max(ends, default=None),
        sessions=tuple(
            sorted(sessions, key=lambda s: (s.joined_at, s.email or "", s.provider_participant_id or ""))
        ),
    )


# --- call records (live events) ---------------------------------------------------------------


def call_record_events(
    record: Mapping[str, Any], sessions: Sequence[Mapping[str, Any]], provider_meeting_id: str
) -> list[AttendanceEvent]:
    """A call record as events: the meeting's start and end, and each session's join and leave.

    Keys are the call record's and its sessions' ids, so a record announced twice (or updated)
    gives the same events.
    """
    record_id = str(record["id"])
    start = parse_graph_time(record.get("startDateTime"))
    end = parse_graph_time(record.get("endDateTime"))
    host = _organizer_upn(record)
    events: list[AttendanceEvent] = []

    def event(kind: EventType, at: datetime, key: str, **more: Any) -> AttendanceEvent:
        return AttendanceEvent(
            provider=TEAMS,
            provider_meeting_id=provider_meeting_id,
            type=kind,
            occurred_at=at,
            event_key=key,
            host_email=host,
            **more,
        )

    if start is not None:
        events.append(event(EventType.MEETING_STARTED, start, f"{record_id}:started"))
    if end is not None:
        events.append(event(EventType.MEETING_ENDED, end, f"{record_id}:ended"))
    for session in sessions:
        session_id = session.get("id")
        caller = session.get("caller")
        joined = parse_graph_time(session.get("startDateTime"))
        left = parse_graph_time(session.get("endDateTime"))
        who = identity.from_endpoint(caller) if isinstance(caller, Mapping) else None
        if not isinstance(session_id, str) or who is None or joined is None:
            continue
        key = f"{record_id}:{session_id}"
        events.append(
            event(EventType.PARTICIPANT_JOINED, joined, f"{key}:joined", participant=who, session_key=key)
        )
        if left is not None:
            events.append(
                event(EventType.PARTICIPANT_LEFT, left, f"{key}:left", participant=who, session_key=key)
            )
    return events


def _organizer_upn(record: Mapping[str, Any]) -> str | None:
    organizer = record.get("organizer_v2")
    ident = organizer.get("identity") if isinstance(organizer, Mapping) else None
    user = ident.get("user") if isinstance(ident, Mapping) else None
    upn = user.get("userPrincipalName") if isinstance(user, Mapping) else None
    return upn.lower() if isinstance(upn, str) and upn else None


def organizer_id(record: Mapping[str, Any]) -> str | None:
    organizer = record.get("organizer_v2")
    if not isinstance(organizer, Mapping):
        return None
    ident = organizer.get("identity")
    user = ident.get("user") if isinstance(ident, Mapping) else None
    found = (user.get("id") if isinstance(user, Mapping) else None) or organizer.get("id")
    return found if isinstance(found, str) and found else None


def join_url_filter(join_url: str) -> str:
    """`$filter` finding an online meeting by its join URL (OData doubles single quotes)."""
    return "JoinWebUrl eq '" + join_url.replace("'", "''") + "'"
