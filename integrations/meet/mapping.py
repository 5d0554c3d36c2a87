"""Pure translations between salesmeet's values and Google's JSON (no I/O)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.base import MeetingRequest, ProviderMeeting
from service.domain.events import ParticipantIdentity
from service.domain.reports import ReportedSession

MEET_SOLUTION = "hangoutsMeet"
_LEADING_DIGITS = re.compile(r"\d+")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def calendar_event_id(idempotency_key: str) -> str:
    """The Calendar event id for our meeting: derived from its id, so a retried insert collides
    (409) instead of making a second event, and an update finds the event without a lookup.
    Calendar ids are base32hex (a-v, 0-9); hex digits are a subset."""
    return "sm" + _digest(idempotency_key)[:40]


def conference_request_id(idempotency_key: str) -> str:
    """The conference createRequest's requestId: Google ignores a requestId it has seen."""
    return "salesmeet-" + _digest(idempotency_key)[:32]


def _local_time(moment: datetime, timezone: str) -> dict[str, str]:
    try:
        zone: ZoneInfo | None = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        return {"dateTime": moment.astimezone(UTC).isoformat(), "timeZone": "UTC"}
    return {"dateTime": moment.astimezone(zone).isoformat(), "timeZone": timezone}


def schedule_fields(request: MeetingRequest) -> dict[str, Any]:
    """Title, agenda, times and guests: what a create and an update both send."""
    organizer = request.organizer.email.lower()
    attendees: list[dict[str, str]] = []
    seen = {organizer}
    for person in request.attendees:
        email = person.email.lower()
        if email in seen:
            continue
        seen.add(email)
        attendee = {"email": email}
        if person.name:
            attendee["displayName"] = person.name
        attendees.append(attendee)
    return {
        "summary": request.title,
        "description": request.agenda or "",
        "start": _local_time(request.start, request.timezone),
        "end": _local_time(request.start + timedelta(minutes=request.duration_minutes), request.timezone),
        "attendees": attendees,
    }


def create_body(request: MeetingRequest) -> dict[str, Any]:
    return {
        "id": calendar_event_id(request.idempotency_key),
        **schedule_fields(request),
        "conferenceData": conference_create(request.idempotency_key),
    }


def conference_create(idempotency_key: str) -> dict[str, Any]:
    return {
        "createRequest": {
            "requestId": conference_request_id(idempotency_key),
            "conferenceSolutionKey": {"type": MEET_SOLUTION},
        }
    }


def conference_status(event: Mapping[str, Any]) -> str | None:
    """`pending`, `success` or `failure` of the event's conference create; None without one."""
    conference = event.get("conferenceData")
    if not isinstance(conference, dict):
        return None
    create = conference.get("createRequest")
    status = create.get("status") if isinstance(create, dict) else None
    code = status.get("statusCode") if isinstance(status, dict) else None
    if isinstance(code, str):
        return code
    # An event whose conference exists but shows no create request (made elsewhere) is done.
    return "success" if conference.get("conferenceId") else None


def provider_meeting(event: Mapping[str, Any], calendar_id: str) -> ProviderMeeting:
    """The meeting code is the provider meeting id (Meet's events name the space, whose code it is)."""
    conference = event.get("conferenceData")
    if not isinstance(conference, dict):
        raise ValueError("the event has no conference")
    code = conference.get("conferenceId")
    if not isinstance(code, str) or not code:
        raise ValueError("the conference has no id (meeting code)")
    join_url = event.get("hangoutLink")
    if not isinstance(join_url, str) or not join_url:
        entry_points = conference.get("entryPoints")
        video = [
            e.get("uri")
            for e in (entry_points if isinstance(entry_points, list) else [])
            if isinstance(e, dict) and e.get("entryPointType") == "video"
        ]
        join_url = video[0] if video and isinstance(video[0], str) else None
    if not join_url:
        raise ValueError("the conference has no video entry point")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("the event has no id")
    return ProviderMeeting(code, join_url, None, {"calendar_id": calendar_id, "event_id": event_id})


def parse_google_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp (`Z` or offset, any fraction) as aware UTC; None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    # Python before 3.11 wanted at most 6 fraction digits; Google may send 9 (nanoseconds).
    head, dot, rest = text.partition(".")
    if dot:
        digits = _LEADING_DIGITS.match(rest)
        fraction = digits.group(0) if digits else ""
        text = f"{head}.{fraction[:6] or '0'}{rest[len(fraction) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


# --- participants --------------------------------------------------------------------------------


def signed_in_user_id(participant: Mapping[str, Any]) -> str | None:
    """`users/{id}` of a signed-in participant; None for anonymous and phone participants."""
    user = participant.get("signedinUser")
    if isinstance(user, dict) and isinstance(user.get("user"), str) and user["user"]:
        return str(user["user"])
    return None


def display_name(participant: Mapping[str, Any]) -> str | None:
    for kind in ("signedinUser", "anonymousUser", "phoneUser"):
        detail = participant.get(kind)
        if isinstance(detail, dict) and isinstance(detail.get("displayName"), str):
            return str(detail["displayName"]) or None
    return None


def participant_identity(
    participant: Mapping[str, Any], email_of: Callable[[str], str | None]
) -> ParticipantIdentity:
    """Who a Meet participant is, the same in events and reports.

    A signed-in user is named by their Google user id (`users/{id}`), with the e-mail the Directory
    gives for it (none for a user outside the domain). Anonymous and phone participants have only
    the participant resource itself (one conference's participant), so they stay unidentified.
    """
    name = participant.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("participant without a name")
    user = signed_in_user_id(participant)
    if user is not None:
        return ParticipantIdentity(email_of(user.removeprefix("users/")), user, display_name(participant))
    return ParticipantIdentity(None, name, display_name(participant))


def reported_session(identity: ParticipantIdentity, session: Mapping[str, Any]) -> ReportedSession | None:
    """One participant session; None while it is still open (no end yet) or unreadable."""
    joined_at = parse_google_time(session.get("startTime"))
    left_at = parse_google_time(session.get("endTime"))
    if joined_at is None or left_at is None:
        return None
    return ReportedSession(
        identity.email, identity.provider_participant_id, identity.name, joined_at, left_at
    )


def record_span(records: Sequence[Mapping[str, Any]]) -> tuple[datetime | None, datetime | None]:
    """The earliest start and, when every conference has ended, the latest end."""
    starts = [t for t in (parse_google_time(r.get("startTime")) for r in records) if t is not None]
    ends = [parse_google_time(r.get("endTime")) for r in records]
    end = max((t for t in ends if t is not None), default=None) if all(t is not None for t in ends) else None
    return min(starts, default=None), end
