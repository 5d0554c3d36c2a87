"""Attendance events as JSON, for the events a resolver fetched and the inbox keeps until applied."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import ProviderName


def events_to_json(events: Sequence[AttendanceEvent]) -> list[dict[str, Any]]:
    return [_event_to_json(event) for event in events]


def events_from_json(data: object) -> list[AttendanceEvent]:
    """The events back; raises ValueError (or KeyError, TypeError) for data that is not such a list."""
    if not isinstance(data, list):
        raise ValueError("resolved events must be a list")
    return [_event_from_json(item) for item in data]


def _event_to_json(event: AttendanceEvent) -> dict[str, Any]:
    participant = event.participant
    return {
        "provider": event.provider.value,
        "provider_meeting_id": event.provider_meeting_id,
        "type": event.type.value,
        "occurred_at": event.occurred_at.isoformat(),
        "event_key": event.event_key,
        "participant": None
        if participant is None
        else {
            "email": participant.email,
            "provider_participant_id": participant.provider_participant_id,
            "name": participant.name,
            "registrant_id": participant.registrant_id,
        },
        "session_key": event.session_key,
        "meeting_title": event.meeting_title,
        "host_email": event.host_email,
        "provider_meeting_instance": event.provider_meeting_instance,
    }


def _event_from_json(item: dict[str, Any]) -> AttendanceEvent:
    participant = item.get("participant")
    return AttendanceEvent(
        provider=ProviderName(item["provider"]),
        provider_meeting_id=item["provider_meeting_id"],
        type=EventType(item["type"]),
        occurred_at=datetime.fromisoformat(item["occurred_at"]),
        event_key=item["event_key"],
        participant=None
        if participant is None
        else ParticipantIdentity(
            email=participant.get("email"),
            provider_participant_id=participant.get("provider_participant_id"),
            name=participant.get("name"),
            registrant_id=participant.get("registrant_id"),
        ),
        session_key=item.get("session_key"),
        meeting_title=item.get("meeting_title"),
        host_email=item.get("host_email"),
        provider_meeting_instance=item.get("provider_meeting_instance"),
    )
