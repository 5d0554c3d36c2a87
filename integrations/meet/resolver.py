"""From a stored Workspace Events push to attendance events: the `NotificationResolver` for Meet.

A push names resources only (`conferenceRecords/{cr}` for conference events,
`conferenceRecords/{cr}/participants/{p}/participantSessions/{s}` for joins and leaves). The
resolver reads them through the Meet REST API (as the delegated user), the participant's identity
through the Directory, and the space's meeting code (the provider meeting id) through spaces.get.

The event keys are the resource names (plus what happened), so a redelivered or re-resolved push
gives the same events. Each event also names its conference record as the instance.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog

from integrations.base import ProviderUnavailable
from integrations.meet.adapter import MeetProvider
from integrations.meet.errors import MEET
from integrations.meet.mapping import parse_google_time, participant_identity
from service.domain.events import AttendanceEvent, EventType, UndecodableDelivery

log = structlog.get_logger("salesmeet.meet.resolver")

MEET_EVENT = "google.workspace.meet."
CONFERENCE_EVENTS = {
    MEET_EVENT + "conference.v2.started": EventType.MEETING_STARTED,
    MEET_EVENT + "conference.v2.ended": EventType.MEETING_ENDED,
}
PARTICIPANT_EVENTS = {
    MEET_EVENT + "participant.v2.joined": EventType.PARTICIPANT_JOINED,
    MEET_EVENT + "participant.v2.left": EventType.PARTICIPANT_LEFT,
}


def decode_push(body: bytes) -> tuple[str, dict[str, Any]]:
    """The CloudEvent type (`ce-type`) and its JSON data of a wrapped Pub/Sub push body."""
    try:
        document = json.loads(body)
        message = document["message"]
        attributes = message.get("attributes") or {}
        event_type = attributes.get("ce-type")
        raw = message.get("data") or ""
        data = json.loads(base64.b64decode(raw, validate=True)) if raw else {}
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError) as exc:
        raise UndecodableDelivery(f"not a readable Pub/Sub push ({type(exc).__name__})") from exc
    if not isinstance(event_type, str) or not event_type:
        raise UndecodableDelivery("the push has no ce-type attribute")
    if not isinstance(data, dict):
        raise UndecodableDelivery("the push data is not a JSON object")
    return event_type, data


def _resource_name(data: Mapping[str, Any], field: str) -> str:
    inner = data.get(field)
    name = inner.get("name") if isinstance(inner, dict) else None
    if not isinstance(name, str) or not name.startswith("conferenceRecords/"):
        raise UndecodableDelivery(f"the push names no {field}")
    return name


class MeetResolver:
    def __init__(self, provider: MeetProvider) -> None:
        self._provider = provider
        self._codes: dict[str, str] = {}  # space name -> meeting code (never changes)
        self._record_codes: dict[str, str] = {}  # conference record name -> meeting code
        self._lock = threading.Lock()

    def resolve(self, body: bytes, headers: Mapping[str, str]) -> list[AttendanceEvent]:
        event_type, data = decode_push(body)
        if event_type in CONFERENCE_EVENTS:
            return [
                self._conference_event(
                    CONFERENCE_EVENTS[event_type], _resource_name(data, "conferenceRecord")
                )
            ]
        if event_type in PARTICIPANT_EVENTS:
            return [
                self._participant_event(
                    PARTICIPANT_EVENTS[event_type], _resource_name(data, "participantSession")
                )
            ]
        # Recordings, transcripts and subscription lifecycle events say nothing about attendance.
        log.info("webhook.google.ignored", event_type=event_type)
        return []

    def _meeting_code(self, record: Mapping[str, Any]) -> str:
        space = record.get("space")
        if not isinstance(space, str) or not space:
            raise ProviderUnavailable(MEET, "conference record without a space")
        with self._lock:
            known = self._codes.get(space)
        if known is not None:
            return known
        found = self._provider.meet_call(lambda s: s.spaces().get(name=space)).get("meetingCode")
        if not isinstance(found, str) or not found:
            raise ProviderUnavailable(MEET, f"space {space} has no meeting code")
        with self._lock:
            self._codes[space] = found
        return found

    def _record_code(self, record_name: str) -> str:
        """The meeting code of a conference record's space (neither ever changes: cached)."""
        with self._lock:
            known = self._record_codes.get(record_name)
        if known is None:
            record = self._provider.meet_call(lambda s: s.conferenceRecords().get(name=record_name))
            known = self._meeting_code(record)
            with self._lock:
                self._record_codes[record_name] = known
        return known

    def _conference_event(self, kind: EventType, record_name: str) -> AttendanceEvent:
        record = self._provider.meet_call(lambda s: s.conferenceRecords().get(name=record_name))
        field = "startTime" if kind is EventType.MEETING_STARTED else "endTime"
        occurred_at = self._time(record, field, record_name)
        return AttendanceEvent(
            provider=MEET,
            provider_meeting_id=self._meeting_code(record),
            type=kind,
            occurred_at=occurred_at,
            event_key=f"{record_name}#{kind.value}",
            provider_meeting_instance=record_name,
        )

    def _participant_event(self, kind: EventType, session_name: str) -> AttendanceEvent:
        parts = session_name.split("/")
        if len(parts) != 6 or parts[2] != "participants" or parts[4] != "participantSessions":
            raise UndecodableDelivery("the push names no participant session")
        record_name, participant_name = "/".join(parts[:2]), "/".join(parts[:4])
        meet = self._provider.meet_call
        session = meet(
            lambda s: s.conferenceRecords().participants().participantSessions().get(name=session_name)
        )
        participant = meet(lambda s: s.conferenceRecords().participants().get(name=participant_name))
        field = "startTime" if kind is EventType.PARTICIPANT_JOINED else "endTime"
        try:
            identity = participant_identity(participant, self._provider.directory.email_of)
        except ValueError as exc:
            raise ProviderUnavailable(MEET, f"unreadable participant ({exc})") from exc
        return AttendanceEvent(
            provider=MEET,
            provider_meeting_id=self._record_code(record_name),
            type=kind,
            occurred_at=self._time(session, field, session_name),
            event_key=f"{session_name}#{kind.value}",
            participant=identity,
            session_key=session_name,
            provider_meeting_instance=record_name,
        )

    @staticmethod
    def _time(resource: Mapping[str, Any], field: str, name: str) -> datetime:
        moment = parse_google_time(resource.get(field))
        if moment is None:
            # The push can outrun the resource (an end not yet written): retried with backoff.
            raise ProviderUnavailable(MEET, f"{name} has no {field} yet")
        return moment
