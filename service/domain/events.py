"""Provider-neutral attendance events, normalised from any provider's webhooks or reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from service.domain.meeting import ProviderName, require_utc


class EventType(StrEnum):
    MEETING_STARTED = "meeting.started"
    MEETING_ENDED = "meeting.ended"
    PARTICIPANT_JOINED = "participant.joined"
    PARTICIPANT_LEFT = "participant.left"
    # Time in a waiting room before being admitted: not attendance, its own figure.
    WAITING_ROOM_JOINED = "participant.waiting_joined"
    WAITING_ROOM_LEFT = "participant.waiting_left"


PARTICIPANT_EVENT_TYPES = frozenset(
    {
        EventType.PARTICIPANT_JOINED,
        EventType.PARTICIPANT_LEFT,
        EventType.WAITING_ROOM_JOINED,
        EventType.WAITING_ROOM_LEFT,
    }
)


@dataclass(frozen=True)
class ParticipantIdentity:
    """Who an event is about. Identity is the lower-cased e-mail, else the provider's participant id.

    `registrant_id` is the provider's id of the person's registration for the meeting (Zoom
    registration): it survives when the provider hides the e-mail, and maps back to an invitee.
    """

    email: str | None
    provider_participant_id: str | None
    name: str | None = None
    registrant_id: str | None = None

    def __post_init__(self) -> None:
        email = (self.email or "").strip().lower() or None
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "registrant_id", (self.registrant_id or "").strip() or None)
        if email is None and not self.provider_participant_id and self.registrant_id is None:
            raise ValueError("a participant needs an e-mail, a provider participant id or a registrant id")

    @property
    def key(self) -> str:
        if self.email:
            return self.email
        if self.provider_participant_id:
            return f"id:{self.provider_participant_id}"
        return f"registrant:{self.registrant_id}"


@dataclass(frozen=True)
class AttendanceEvent:
    """One thing that happened in a meeting, as the provider told it.

    `event_key` is the provider's own identity for this event (stable across redeliveries) and
    is what deduplicates it. `session_key`, when the provider has one, ties a join to its leave.
    """

    provider: ProviderName
    provider_meeting_id: str
    type: EventType
    occurred_at: datetime
    event_key: str
    participant: ParticipantIdentity | None = None
    session_key: str | None = None
    meeting_title: str | None = None
    host_email: str | None = None
    provider_meeting_instance: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", require_utc(self.occurred_at))
        is_participant_event = self.type in PARTICIPANT_EVENT_TYPES
        if is_participant_event and self.participant is None:
            raise ValueError(f"{self.type} needs a participant")


class UndecodableDelivery(ValueError):
    """A delivery that can never become events (a payload we cannot read): park it, do not retry."""
