"""Zoom webhooks: verify the raw delivery, answer the URL-validation handshake, normalise events.

Pure functions: no web framework, no storage, no clock and no I/O, so the route decides what to
log and when, and tests pass a fixed `now`. The route's order is:

    verify_zoom_request(body=raw, headers=..., secret_tokens=..., now=time.time())   # FIRST
    envelope = parse_zoom_event(raw)
    if isinstance(envelope, ZoomUrlValidation):
        return url_validation_response(envelope.payload, current_secret)
    events = normalise_zoom_event(envelope)          # [] for events we do not record

Errors (both carry a stable `code` and a `message` safe to log and to return):

    ZoomWebhookError
    ├── ZoomVerificationError   the delivery is not provably from Zoom, or is too old/new (401)
    └── ZoomPayloadError        verified, but not a payload we can read; code "invalid_payload" (400)
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from integrations.zoom.identity import participant_id
from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import (
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TITLE_LENGTH,
    ProviderName,
    check_instant,
    display_text,
    storable_email,
)

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
SIGNATURE_VERSION = "v0"
DEFAULT_TOLERANCE_SECONDS = 300
URL_VALIDATION_EVENT = "endpoint.url_validation"

# A 10-digit epoch in seconds lasts until 2286; anything much longer is not a timestamp, and
# capping it keeps int() away from pathological inputs.
_MAX_TIMESTAMP_DIGITS = 12

VerificationCode = Literal[
    "missing_signature",
    "missing_timestamp",
    "malformed_timestamp",
    "stale_timestamp",
    "future_timestamp",
    "bad_signature",
]


class ZoomWebhookError(Exception):
    """Base of the Zoom webhook errors: a stable `code` and a message without secrets."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ZoomVerificationError(ZoomWebhookError):
    """The delivery failed signature or freshness checks; answer 401 and do not parse it."""

    code: VerificationCode

    def __init__(self, code: VerificationCode, message: str) -> None:
        super().__init__(code, message)


class ZoomPayloadError(ZoomWebhookError):
    """A verified delivery whose body is not valid JSON or not the shape Zoom documents."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_payload", message)


# --------------------------------------------------------------------------- verification


def verify_zoom_request(
    *,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
    secret_token: str | None = None,
    secret_tokens: Sequence[str] = (),
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return if `body` was signed by Zoom within `tolerance_seconds` of `now`, else raise.

    The signature is `v0=` + hex(HMAC-SHA256(secret, b"v0:" + timestamp + b":" + body)) over the
    raw bytes exactly as received (never a re-serialised parse). Pass the current secret as
    `secret_token`, and during a rotation the previous one(s) in `secret_tokens`; any one matching
    is enough. `headers` may be any mapping; names are matched case-insensitively.

    The signature is checked before the timestamp's age, so `stale_timestamp` and
    `future_timestamp` only ever describe genuine Zoom deliveries (a replay, a late retry or a
    clock problem) rather than anyone's junk. The HMAC of a small body costs microseconds.

    Raises ZoomVerificationError; its message never contains a secret or the expected signature.
    """
    secrets = _secrets_to_try(secret_token, secret_tokens)
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must not be negative")

    signature = _header(headers, SIGNATURE_HEADER)
    if not signature:
        raise ZoomVerificationError("missing_signature", f"the {SIGNATURE_HEADER} header is missing")
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not timestamp:
        raise ZoomVerificationError("missing_timestamp", f"the {TIMESTAMP_HEADER} header is missing")
    timestamp = timestamp.strip()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
        raise ZoomVerificationError(
            "malformed_timestamp", f"the {TIMESTAMP_HEADER} header is not an epoch time in seconds"
        )

    if not _signature_matches(signature.strip(), timestamp, body, secrets):
        raise ZoomVerificationError("bad_signature", "the signature does not match the body and timestamp")

    # Zoom stamps whole seconds, so the age is measured in whole seconds of our clock too: the
    # message then states the very number that failed the check (a truncated float said "300 s"
    # of a delivery refused for being 301 s ahead).
    age = math.floor(now) - int(timestamp)
    if age > tolerance_seconds:
        raise ZoomVerificationError(
            "stale_timestamp", f"the delivery was signed {age} s ago (tolerance {tolerance_seconds} s)"
        )
    if -age > tolerance_seconds:
        raise ZoomVerificationError(
            "future_timestamp",
            f"the delivery is dated {-age} s in the future (tolerance {tolerance_seconds} s)",
        )


def _secrets_to_try(secret_token: str | None, secret_tokens: Sequence[str]) -> tuple[str, ...]:
    # A bare str is a Sequence[str] too; iterating it would "rotate" through its characters.
    if isinstance(secret_tokens, str):
        raise TypeError("secret_tokens must be a sequence of secrets, not one string")
    secrets = (*(() if secret_token is None else (secret_token,)), *secret_tokens)
    if not secrets:
        raise ValueError("no Zoom webhook secret token configured")
    if any(not s for s in secrets):
        raise ValueError("an empty Zoom webhook secret token would accept forged deliveries")
    return secrets


def _header(headers: Mapping[str, str], lower_name: str) -> str | None:
    value = headers.get(lower_name)
    if value is not None:
        return value
    # Plain dicts keep the sender's spelling (X-Zm-Signature); HTTP header names are case-insensitive.
    for name, candidate in headers.items():
        if name.lower() == lower_name:
            return candidate
    return None


def _signature_matches(presented: str, timestamp: str, body: bytes, secrets: tuple[str, ...]) -> bool:
    message = f"{SIGNATURE_VERSION}:{timestamp}:".encode("ascii") + body
    presented_bytes = presented.encode("utf-8", errors="replace")
    matched = False
    # Every secret is tried (no early exit) so timing does not tell which one is current.
    for secret in secrets:
        expected = _sign(secret, message)
        matched |= hmac.compare_digest(presented_bytes, expected)
    return matched


def _sign(secret: str, message: bytes) -> bytes:
    mac = _keyed(secret).copy()  # the key's pads are hashed once per secret, not once per request
    mac.update(message)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}".encode("ascii")


@functools.lru_cache(maxsize=16)
def _keyed(secret: str) -> hmac.HMAC:
    """HMAC-SHA256 keyed with `secret`, before any message (copied for each signature)."""
    return hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)


# --------------------------------------------------------------------------- payload models


# An instant outside 1970..2200 (the API's bounds) is refused while parsing, so the delivery is
# parked once as undecodable instead of overflowing date arithmetic in every later step.
ZoomInstant = Annotated[AwareDatetime, AfterValidator(check_instant)]


# Values are made storable here, at the boundary, so that every database keeps the same thing
# (PostgreSQL refuses NUL in text and over-long values; SQLite would keep them as sent).


def _displayable(limit: int) -> AfterValidator:
    """Free text (names, topics): NULs removed, trimmed, cut to what the API itself accepts."""
    return AfterValidator(lambda value: display_text(value, limit))


def _email_or_blank(value: str) -> str:
    """The stored form of an address, or "" when no column could hold it: the participant is then
    identified by its id, as any participant without an e-mail is."""
    return storable_email(value) or ""


def _storable_id(value: str | int) -> str | int:
    # An id is identity: cutting or altering it could merge two people, so an unstorable one is
    # refused (the delivery is parked as undecodable) rather than changed.
    if len(str(value)) > MAX_ID_LENGTH:
        raise ValueError(f"longer than {MAX_ID_LENGTH} characters")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


ZoomName = Annotated[str, _displayable(MAX_NAME_LENGTH)]
ZoomTitle = Annotated[str, _displayable(MAX_TITLE_LENGTH)]
ZoomEmail = Annotated[str, AfterValidator(_email_or_blank)]
ZoomId = Annotated[str, AfterValidator(_storable_id)]
# Typed as a string in Zoom's event types but a number in its REST API; accept both.
ZoomStrictId = Annotated[StrictStr | StrictInt, AfterValidator(_storable_id)]


class _ZoomModel(BaseModel):
    # Zoom adds fields over time; unknown ones must not break ingestion.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ZoomParticipant(_ZoomModel):
    user_id: ZoomStrictId | None = None
    user_name: ZoomName | None = None
    id: ZoomId | None = None
    participant_uuid: str | None = None
    email: ZoomEmail | None = None
    join_time: ZoomInstant | None = None
    leave_time: ZoomInstant | None = None
    leave_reason: str | None = None
    # Set for someone who joined through their registration link, even when the e-mail is hidden.
    registrant_id: ZoomId | None = None
    # When a waiting-room event happened (those events carry no join_time/leave_time).
    date_time: ZoomInstant | None = None


class ZoomMeetingObject(_ZoomModel):
    id: ZoomStrictId
    uuid: Annotated[ZoomId, Field(min_length=1)]
    host_id: str | None = None
    host_email: ZoomEmail | None = None
    topic: ZoomTitle | None = None
    start_time: ZoomInstant | None = None
    end_time: ZoomInstant | None = None
    timezone: str | None = None
    participant: ZoomParticipant | None = None


class ZoomMeetingPayload(_ZoomModel):
    account_id: str | None = None
    object: ZoomMeetingObject


class ZoomUrlValidationPayload(_ZoomModel):
    plain_token: str = Field(alias="plainToken", min_length=1)


class ZoomEnvelope(_ZoomModel):
    """What every Zoom delivery has. `parse_zoom_event` returns one of the subclasses below."""

    event: str
    event_ts: int | None = None  # epoch milliseconds, when Zoom sent it (not when it happened)


MeetingEventName = Literal[
    "meeting.started",
    "meeting.ended",
    "meeting.participant_joined",
    "meeting.participant_left",
    "meeting.participant_joined_waiting_room",
    "meeting.participant_left_waiting_room",
]

_EVENT_TYPES: dict[str, EventType] = {
    "meeting.started": EventType.MEETING_STARTED,
    "meeting.ended": EventType.MEETING_ENDED,
    "meeting.participant_joined": EventType.PARTICIPANT_JOINED,
    "meeting.participant_left": EventType.PARTICIPANT_LEFT,
    "meeting.participant_joined_waiting_room": EventType.WAITING_ROOM_JOINED,
    "meeting.participant_left_waiting_room": EventType.WAITING_ROOM_LEFT,
}
_WAITING_ROOM_EVENTS = ("meeting.participant_joined_waiting_room", "meeting.participant_left_waiting_room")


class ZoomMeetingEvent(ZoomEnvelope):
    """One of the meeting events that carry attendance (and waiting-room time), with the fields each
    one needs."""

    event: MeetingEventName
    payload: ZoomMeetingPayload

    @model_validator(mode="after")
    def _has_what_the_event_needs(self) -> ZoomMeetingEvent:
        meeting = self.payload.object
        if self.event == "meeting.started" and meeting.start_time is None:
            raise ValueError("payload.object.start_time is required for meeting.started")
        if self.event == "meeting.ended" and meeting.end_time is None:
            raise ValueError("payload.object.end_time is required for meeting.ended")
        if self.event in ("meeting.participant_joined", "meeting.participant_left", *_WAITING_ROOM_EVENTS):
            participant = meeting.participant
            if participant is None:
                raise ValueError(f"payload.object.participant is required for {self.event}")
            if self.event in _WAITING_ROOM_EVENTS and _waiting_room_time(participant, self.event) is None:
                raise ValueError("payload.object.participant.date_time is required")
            if self.event == "meeting.participant_joined" and participant.join_time is None:
                raise ValueError("payload.object.participant.join_time is required")
            if self.event == "meeting.participant_left" and participant.leave_time is None:
                raise ValueError("payload.object.participant.leave_time is required")
            if not participant.email and participant_id(participant.id, participant.user_id, None) is None:
                raise ValueError("payload.object.participant has neither an email nor any id")
            scoped_id = participant_id(participant.id, participant.user_id, meeting.uuid)
            if scoped_id is not None and len(scoped_id) > MAX_ID_LENGTH:
                raise ValueError(
                    f"payload.object.participant's id within its meeting is longer than {MAX_ID_LENGTH}"
                )
        return self

    @property
    def event_type(self) -> EventType:
        return _EVENT_TYPES[self.event]


class ZoomUrlValidation(ZoomEnvelope):
    """The `endpoint.url_validation` handshake (signed like any event; verify it first)."""

    event: Literal["endpoint.url_validation"]
    payload: ZoomUrlValidationPayload


class ZoomOtherEvent(ZoomEnvelope):
    """Any event salesmeet does not record (recordings, registrants...); its payload stays raw."""

    payload: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- parsing


def parse_zoom_event(body: bytes) -> ZoomEnvelope:
    """Parse a verified body into ZoomMeetingEvent, ZoomUrlValidation or ZoomOtherEvent.

    Raises ZoomPayloadError (code "invalid_payload") for anything that is not a JSON object with
    a string `event`, or whose recorded event lacks a field we need or has the wrong type.
    Events we do not record are only checked for the envelope, so new Zoom events never fail.
    """
    try:
        data = pydantic_core.from_json(body)
    except ValueError as exc:
        raise ZoomPayloadError(f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ZoomPayloadError("the body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise ZoomPayloadError("the body has no string 'event'")

    model: type[ZoomEnvelope]
    if event in _EVENT_TYPES:
        model = ZoomMeetingEvent
    elif event == URL_VALIDATION_EVENT:
        model = ZoomUrlValidation
    else:
        model = ZoomOtherEvent
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ZoomPayloadError(f"{event}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    # Field paths and reasons only: input values may be large or personal, and belong in no log.
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"])
        # Our own validator's ValueError arrives as "Value error, <text>"; the prefix adds nothing.
        reason = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {reason}" if where else reason)
    return "; ".join(problems)


# --------------------------------------------------------------------------- handshake


def url_validation_response(
    payload: ZoomUrlValidationPayload | Mapping[str, Any], secret_token: str
) -> dict[str, str]:
    """The JSON to answer `endpoint.url_validation` with (HTTP 200), after verification.

    `payload` is the body's `payload` member: `ZoomUrlValidation.payload`, or the raw mapping
    `{"plainToken": ...}`. Answer with the current secret, the one Zoom's app settings hold.
    """
    if not secret_token:
        raise ValueError("no Zoom webhook secret token configured")
    if isinstance(payload, ZoomUrlValidationPayload):
        plain_token = payload.plain_token
    else:
        candidate = payload.get("plainToken")
        if not isinstance(candidate, str) or not candidate:
            raise ZoomPayloadError("endpoint.url_validation: payload.plainToken is not a non-empty string")
        plain_token = candidate
    encrypted = hmac.new(secret_token.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256)
    return {"plainToken": plain_token, "encryptedToken": encrypted.hexdigest()}


# --------------------------------------------------------------------------- normalisation


def normalise_zoom_event(envelope: ZoomEnvelope) -> list[AttendanceEvent]:
    """The attendance events a Zoom delivery describes: one for each meeting event, else []."""
    if not isinstance(envelope, ZoomMeetingEvent):
        return []
    meeting = envelope.payload.object
    participant = meeting.participant if envelope.event_type in _PARTICIPANT_EVENTS else None
    occurred_at = _occurred_at(envelope)
    identity = _identity(participant, meeting.uuid) if participant is not None else None
    return [
        AttendanceEvent(
            provider=ProviderName.ZOOM,
            provider_meeting_id=str(meeting.id),
            type=envelope.event_type,
            occurred_at=occurred_at,
            event_key=_event_key(envelope, participant, occurred_at),
            participant=identity,
            # A join and its leave share no per-session id we can trust (user_id is reissued on
            # every rejoin, and breakout-room moves emit leave/join pairs), so sessions are built
            # from the timeline of the participant's joins and leaves instead.
            session_key=None,
            meeting_title=meeting.topic or None,
            host_email=(meeting.host_email or "").strip().lower() or None,
            provider_meeting_instance=meeting.uuid,
        )
    ]


_PARTICIPANT_EVENTS = (
    EventType.PARTICIPANT_JOINED,
    EventType.PARTICIPANT_LEFT,
    EventType.WAITING_ROOM_JOINED,
    EventType.WAITING_ROOM_LEFT,
)


def _occurred_at(envelope: ZoomMeetingEvent) -> datetime:
    meeting = envelope.payload.object
    participant = meeting.participant
    # The model validator guarantees the field each event needs; the fallbacks only satisfy typing.
    moment = {
        "meeting.started": meeting.start_time,
        "meeting.ended": meeting.end_time,
        "meeting.participant_joined": participant.join_time if participant else None,
        "meeting.participant_left": participant.leave_time if participant else None,
        "meeting.participant_joined_waiting_room": _waiting_room_time(participant, envelope.event),
        "meeting.participant_left_waiting_room": _waiting_room_time(participant, envelope.event),
    }[envelope.event]
    if moment is None:  # pragma: no cover - prevented by ZoomMeetingEvent's validator
        raise ZoomPayloadError(f"{envelope.event}: no event time")
    return moment.astimezone(UTC)


def _waiting_room_time(participant: ZoomParticipant | None, event: str) -> datetime | None:
    if participant is None:
        return None
    told = participant.join_time if event.endswith("joined_waiting_room") else participant.leave_time
    return participant.date_time or told


def _identity(participant: ZoomParticipant, instance: str | None) -> ParticipantIdentity:
    # The same rule as for report rows (integrations/zoom/identity.py), so the two always match.
    # `participant_uuid` is not used: the report does not carry it.
    return ParticipantIdentity(
        email=(participant.email or "").strip().lower() or None,
        provider_participant_id=participant_id(participant.id, participant.user_id, instance),
        name=(participant.user_name or "").strip() or None,
        registrant_id=(participant.registrant_id or "").strip() or None,
    )


def _event_key(envelope: ZoomMeetingEvent, participant: ZoomParticipant | None, occurred_at: datetime) -> str:
    """Same for every redelivery of one event, different for different events.

    Derived from content, never from x-zm-trackingid or event_ts alone (neither is documented as
    stable across retries). Every participant id is included, not just the chosen identity, so
    two devices of one person joining in the same second stay two events. Hashed for a fixed
    length in a unique index and so no field's characters can collide with a separator.
    """
    parts: list[str] = [envelope.event, envelope.payload.object.uuid, occurred_at.isoformat()]
    if participant is not None:
        parts += [
            participant.participant_uuid or "",
            participant.id or "",
            str(participant.user_id) if participant.user_id is not None else "",
            (participant.email or "").strip().lower(),
            participant.registrant_id or "",
        ]
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode("utf-8")).hexdigest()
    return f"{envelope.event}:{digest}"


def delivery_key(body: bytes, envelope: ZoomEnvelope | None = None) -> str:
    """Identity of a whole delivery, for the inbox to drop exact redeliveries cheaply.

    Zoom's retries (at +5, +20 and +60 min) resend the same body; only the signing headers
    change. So the SHA-256 of the raw body identifies a delivery, and the key needs no parse:
    the ingest path can store before parsing. `envelope` is accepted for a call shape shared
    with other providers and is not used. A fixed 71 characters. This is a pre-filter only:
    `AttendanceEvent.event_key` is what deduplicates events, whatever the bytes.
    """
    return f"sha256:{hashlib.sha256(body).hexdigest()}"
