"""Google's JSON shapes: times, error bodies, and the resources the emulator serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.responses import JSONResponse

from integrations.sandbox.meet.state import (
    CalendarEvent,
    ConferenceRecord,
    ParticipantRecord,
    SessionRecord,
    Space,
    Subscription,
)

RECORD_RETENTION = timedelta(days=30)
SUBSCRIPTION_TYPE = "type.googleapis.com/google.apps.events.subscriptions.v1.Subscription"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


def google_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Google's APIs write timestamps."""
    text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def parse_google_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


# --- error bodies --------------------------------------------------------------------------------


def calendar_error(
    status: int, reason: str, message: str, *, domain: str = "global", headers: dict[str, str] | None = None
) -> JSONResponse:
    """Calendar and Directory errors: the older `errors[]` shape with a `reason`."""
    return JSONResponse(
        {
            "error": {
                "errors": [{"domain": domain, "reason": reason, "message": message}],
                "code": status,
                "message": message,
            }
        },
        status_code=status,
        headers=headers,
    )


def rpc_error(
    status: int, status_name: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Meet REST and Workspace Events errors: the google.rpc Status JSON."""
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": status_name}},
        status_code=status,
        headers=headers,
    )


# --- Calendar ------------------------------------------------------------------------------------


def conference_json(event: CalendarEvent) -> dict[str, Any] | None:
    conference = event.conference
    if conference is None:
        return None
    document: dict[str, Any] = {
        "createRequest": {
            "requestId": conference.request_id,
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
            "status": {"statusCode": conference.status},
        }
    }
    if conference.status == "success":
        space = conference.space
        document.update(
            {
                "entryPoints": [
                    {
                        "entryPointType": "video",
                        "uri": space.meeting_uri,
                        "label": space.meeting_uri.removeprefix("https://"),
                    },
                    {
                        "entryPointType": "more",
                        "uri": f"https://tel.meet/{space.meeting_code}?pin=1234567890",
                        "pin": "1234567890",
                    },
                ],
                "conferenceSolution": {
                    "key": {"type": "hangoutsMeet"},
                    "name": "Google Meet",
                    "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
                },
                "conferenceId": space.meeting_code,
            }
        )
    return document


def event_json(event: CalendarEvent) -> dict[str, Any]:
    owner = {"email": event.calendar_id, "self": True}
    document: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": f'"{int(event.updated.timestamp() * 1000)}{event.sequence}"',
        "id": event.id,
        "status": event.status,
        "htmlLink": f"https://www.google.com/calendar/event?eid={event.id}",
        "created": google_time(event.created),
        "updated": google_time(event.updated),
        "summary": event.summary,
        "description": event.description,
        "creator": owner,
        "organizer": owner,
        "start": event.start,
        "end": event.end,
        "iCalUID": f"{event.id}@google.com",
        "sequence": event.sequence,
        "attendees": event.attendees,
        "reminders": {"useDefault": True},
        "eventType": "default",
    }
    conference = conference_json(event)
    if conference is not None:
        document["conferenceData"] = conference
        if event.conference is not None and event.conference.status == "success":
            document["hangoutLink"] = event.conference.space.meeting_uri
    return document


# --- Meet REST -----------------------------------------------------------------------------------


def space_json(space: Space, active: ConferenceRecord | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": space.name,
        "meetingUri": space.meeting_uri,
        "meetingCode": space.meeting_code,
        "config": {"accessType": "TRUSTED", "entryPointAccess": "ALL"},
    }
    if active is not None:
        document["activeConference"] = {"conferenceRecord": active.name}
    return document


def record_json(record: ConferenceRecord) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": record.name,
        "startTime": google_time(record.start_time),
        "space": record.space.name,
    }
    if record.end_time is not None:
        document["endTime"] = google_time(record.end_time)
        document["expireTime"] = google_time(record.end_time + RECORD_RETENTION)
    return document


def participant_json(record: ConferenceRecord, participant: ParticipantRecord) -> dict[str, Any]:
    starts = [s.start_time for s in participant.sessions]
    ends = [s.end_time for s in participant.sessions]
    document: dict[str, Any] = {"name": f"{record.name}/participants/{participant.id}"}
    if starts:
        document["earliestStartTime"] = google_time(min(starts))
    if ends and all(end is not None for end in ends):
        document["latestEndTime"] = google_time(max(end for end in ends if end is not None))
    if participant.kind == "signedinUser":
        document["signedinUser"] = {"user": participant.user, "displayName": participant.display_name}
    else:
        document[participant.kind] = {"displayName": participant.display_name}
    return document


def session_json(
    record: ConferenceRecord, participant: ParticipantRecord, session: SessionRecord
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": f"{record.name}/participants/{participant.id}/participantSessions/{session.id}",
        "startTime": google_time(session.start_time),
    }
    if session.end_time is not None:
        document["endTime"] = google_time(session.end_time)
    return document


# --- Workspace Events ----------------------------------------------------------------------------


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        "name": subscription.name,
        "uid": subscription.uid,
        "targetResource": subscription.target_resource,
        "eventTypes": subscription.event_types,
        "payloadOptions": {"includeResource": False},
        "notificationEndpoint": {"pubsubTopic": subscription.pubsub_topic},
        "state": subscription.state,
        "authority": f"users/{subscription.subject}" if subscription.subject else "",
        "createTime": google_time(subscription.create_time),
        "updateTime": google_time(subscription.update_time),
        "expireTime": google_time(subscription.expire_time),
        "etag": f'"{int(subscription.update_time.timestamp())}"',
        "reconciling": False,
    }
