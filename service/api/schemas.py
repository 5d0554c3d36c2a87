"""The JSON shapes of API v1 (pydantic at the edge; the domain stays framework-free)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from service.domain.attendance import IdentifiedBy
from service.domain.meeting import (
    MAX_EMAIL_LENGTH,
    MAX_MEETING_MINUTES,
    Classification,
    Completeness,
    Meeting,
    MeetingKind,
    MeetingStatus,
    ProviderName,
    check_instant,
    normalise_email,
    parse_timezone,
)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: object) -> object:
        # PostgreSQL cannot store NUL in text; refuse it here as bad input instead of failing later.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _text_not_number(value: object) -> object:
    # An API caller's instant is an RFC 3339 string; pydantic would also read a number as epoch
    # seconds, a guess about the caller's intent that JSON's types do not support.
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time string with an offset")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(check_instant), BeforeValidator(_text_not_number)]
# Strict: `true` or "30" is not a number of minutes (pydantic would read them as 1 and 30).
Minutes = Annotated[int, Field(strict=True, ge=1, le=MAX_MEETING_MINUTES)]


def _in_stored_form(value: object) -> object:
    # Before the length and pattern checks: those must hold for what is stored, not what was sent.
    return normalise_email(value) if isinstance(value, str) else value


# The constraints come first so that they are part of the string check, which the normalisation
# listed after them wraps: normalised first, then checked.
Email = Annotated[
    str,
    Field(min_length=3, max_length=MAX_EMAIL_LENGTH, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    BeforeValidator(_in_stored_form),
]


def _iana_timezone(value: str) -> str:
    parse_timezone(value)  # raises InvalidTimezone (a ValueError): reported with the other field errors
    return value


TimezoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_iana_timezone)]


class ExternalRefIn(StrictModel):
    system: str = Field(min_length=1, max_length=100)
    id: str = Field(min_length=1, max_length=200)


class PersonIn(StrictModel):
    email: Email
    name: str | None = Field(default=None, max_length=300)


class AttendeeIn(PersonIn):
    required: StrictBool = True


class MeetingCreate(StrictModel):
    external_ref: ExternalRefIn | None = None
    title: str = Field(min_length=1, max_length=200)
    agenda: str | None = Field(default=None, max_length=2000)
    kind: MeetingKind | None = None
    start: Instant
    duration_minutes: Minutes | None = None
    end: Instant | None = None
    timezone: TimezoneName
    organizer: PersonIn
    attendees: list[AttendeeIn] = Field(default_factory=list, max_length=1000)
    provider: ProviderName | None = None

    @model_validator(mode="after")
    def _one_length(self) -> MeetingCreate:
        if self.duration_minutes is None and self.end is None:
            raise ValueError("give duration_minutes or end")
        if self.duration_minutes is not None and self.end is not None:
            raise ValueError("give duration_minutes or end, not both")
        return self


class MeetingPatch(StrictModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    agenda: str | None = Field(default=None, max_length=2000)
    kind: MeetingKind | None = None
    start: Instant | None = None
    duration_minutes: Minutes | None = None
    end: Instant | None = None
    timezone: TimezoneName | None = None
    attendees: list[AttendeeIn] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _not_both(self) -> MeetingPatch:
        if self.duration_minutes is not None and self.end is not None:
            raise ValueError("give duration_minutes or end, not both")
        return self


class PersonOut(BaseModel):
    email: str
    name: str | None


class AttendeeOut(PersonOut):
    required: bool
    classification: Classification
    # This attendee's own link, when the provider registered them (Zoom registration): send it to
    # them instead of the meeting's join_url, so the provider can tell who they are.
    join_url: str | None = None


class ProviderAttemptOut(BaseModel):
    provider: ProviderName
    error_code: str
    message: str


class MeetingOut(BaseModel):
    id: str
    external_ref: ExternalRefIn | None
    origin: str
    title: str
    agenda: str | None
    kind: MeetingKind
    kind_derived: bool
    start: datetime
    end: datetime
    duration_minutes: int
    timezone: str
    organizer: PersonOut
    attendees: list[AttendeeOut]
    provider: ProviderName | None
    provider_meeting_id: str | None
    join_url: str | None
    start_url: str | None = None
    status: MeetingStatus
    provider_attempts: list[ProviderAttemptOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, m: Meeting, *, include_start_url: bool) -> MeetingOut:
        zone = m.schedule.local_start().tzinfo
        return cls(
            id=m.id,
            external_ref=ExternalRefIn(system=m.external_ref.system, id=m.external_ref.id)
            if m.external_ref
            else None,
            origin=m.origin.value,
            title=m.title,
            agenda=m.agenda,
            kind=m.kind,
            kind_derived=m.kind_derived,
            start=m.schedule.start.astimezone(zone),
            end=m.schedule.end.astimezone(zone),
            duration_minutes=m.schedule.duration_minutes,
            timezone=m.schedule.timezone,
            organizer=PersonOut(email=m.organizer.email, name=m.organizer.name),
            attendees=[
                AttendeeOut(
                    email=a.email,
                    name=a.name,
                    required=a.required,
                    classification=a.classification,
                    join_url=a.join_url,
                )
                for a in m.attendees
            ],
            provider=m.provider,
            provider_meeting_id=m.provider_meeting_id,
            join_url=m.join_url,
            start_url=m.start_url if include_start_url else None,
            status=m.status,
            provider_attempts=[
                ProviderAttemptOut(provider=a.provider, error_code=a.error_code, message=a.message)
                for a in m.attempts
            ],
            created_at=m.created_at,
            updated_at=m.updated_at,
        )


class MeetingPage(BaseModel):
    items: list[MeetingOut]
    next_cursor: str | None


class SessionOut(BaseModel):
    joined_at: datetime
    left_at: datetime | None


class ParticipantOut(BaseModel):
    email: str | None
    name: str | None
    classification: Classification
    invited: bool
    attended_seconds: int
    attended: bool
    first_join: datetime | None
    last_leave: datetime | None
    late_seconds: int
    sessions: list[SessionOut]
    # How the participant was matched (email | registrant | account | name | none); null for an
    # invitee never seen.
    identified_by: IdentifiedBy | None = None
    # Time spent in the waiting room before being admitted (not part of attended_seconds).
    waiting_seconds: int = 0


class AttendanceOut(BaseModel):
    meeting_id: str
    provider: ProviderName | None
    actual_start: datetime | None
    actual_end: datetime | None
    actual_duration_seconds: int | None
    completeness: Completeness
    completeness_reason: str | None
    participants: list[ParticipantOut]
