"""The Google emulator's memory: tokens, calendar events, Meet spaces and conference records,
subscriptions and their operations. One lock guards it (the app and the player share it)."""

from __future__ import annotations

import random
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from integrations.sandbox.meet.config import MeetEmulatorConfig, WorkspaceUser
from integrations.sandbox.meet.faults import ApiFaults


class TokenStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class IssuedToken:
    subject: str | None  # the impersonated user (domain-wide delegation), None for the account itself
    scopes: frozenset[str]
    expires_at: datetime


@dataclass
class Space:
    name: str  # spaces/{id}
    meeting_code: str
    owner: WorkspaceUser

    @property
    def meeting_uri(self) -> str:
        return f"https://meet.google.com/{self.meeting_code}"


@dataclass
class ConferenceRequest:
    request_id: str
    status: str  # pending | success | failure
    space: Space
    pending_reads_left: int = 0


@dataclass
class CalendarEvent:
    id: str
    calendar_id: str  # the owner's e-mail
    summary: str
    description: str
    start: dict[str, Any]
    end: dict[str, Any]
    attendees: list[dict[str, Any]]
    created: datetime
    updated: datetime
    sequence: int = 0
    status: str = "confirmed"
    conference: ConferenceRequest | None = None


@dataclass
class SessionRecord:
    id: str
    start_time: datetime
    end_time: datetime | None = None


@dataclass
class ParticipantRecord:
    id: str
    kind: str  # signedinUser | anonymousUser | phoneUser
    display_name: str
    user: str | None = None  # users/{id} for signed-in users
    sessions: list[SessionRecord] = field(default_factory=list)


@dataclass
class ConferenceRecord:
    id: str
    space: Space
    start_time: datetime
    end_time: datetime | None = None
    participants: list[ParticipantRecord] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"conferenceRecords/{self.id}"


@dataclass
class Subscription:
    id: str
    uid: str
    target_resource: str
    event_types: list[str]
    pubsub_topic: str
    subject: str | None
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    state: str = "ACTIVE"

    @property
    def name(self) -> str:
        return f"subscriptions/{self.id}"


@dataclass(frozen=True)
class PageCursor:
    listing: str  # what was listed (the list's parent and filter), so a token is not used elsewhere
    offset: int


class MeetEmulatorState:
    def __init__(self, config: MeetEmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.faults = ApiFaults(config.seed)
        self._random = random.Random(config.seed)  # noqa: S311 - reproducible ids, not security
        self.tokens: dict[str, IssuedToken] = {}
        self.token_requests = 0
        self.refused_token_requests = 0
        self.certs_requests = 0
        self.api_requests: list[tuple[str, str]] = []
        self.events: dict[tuple[str, str], CalendarEvent] = {}  # (calendar id, event id)
        self.deleted_events: set[tuple[str, str]] = set()
        self.spaces: dict[str, Space] = {}  # by name
        self.records: dict[str, ConferenceRecord] = {}  # by id
        self.subscriptions: dict[str, Subscription] = {}  # by id
        self.operations: dict[str, dict[str, Any]] = {}  # by name
        self._page_tokens: dict[str, PageCursor] = {}
        self.conferences_created = 0

    def now(self) -> datetime:
        return self.config.clock()

    # --- tokens -----------------------------------------------------------------------------

    def issue_token(self, subject: str | None, scopes: frozenset[str]) -> str:
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = IssuedToken(
                subject, scopes, self.now() + timedelta(seconds=self.config.token_expires_in)
            )
        return token

    def token(self, value: str) -> tuple[TokenStatus, IssuedToken | None]:
        with self.lock:
            issued = self.tokens.get(value)
        if issued is None:
            return TokenStatus.INVALID, None
        if self.now() >= issued.expires_at:
            return TokenStatus.EXPIRED, issued
        return TokenStatus.VALID, issued

    def revoke_all_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # --- ids --------------------------------------------------------------------------------

    def new_id(self, length: int = 22) -> str:
        alphabet = string.ascii_letters + string.digits
        with self.lock:
            return "".join(self._random.choice(alphabet) for _ in range(length))

    def _new_meeting_code(self) -> str:
        letters = string.ascii_lowercase
        with self.lock:
            while True:
                parts = ("".join(self._random.choice(letters) for _ in range(n)) for n in (3, 4, 3))
                code = "-".join(parts)
                if all(space.meeting_code != code for space in self.spaces.values()):
                    return code

    # --- Meet spaces and conference records --------------------------------------------------

    def add_space(self, owner: WorkspaceUser) -> Space:
        space = Space(f"spaces/{self.new_id(12)}", self._new_meeting_code(), owner)
        with self.lock:
            self.spaces[space.name] = space
        return space

    def space(self, ref: str) -> Space | None:
        """`spaces/{id}` or `spaces/{meetingCode}`, as spaces.get takes either."""
        with self.lock:
            if ref in self.spaces:
                return self.spaces[ref]
            code = ref.removeprefix("spaces/")
            return next((s for s in self.spaces.values() if s.meeting_code == code), None)

    def space_for_code(self, code: str) -> Space | None:
        with self.lock:
            return next((s for s in self.spaces.values() if s.meeting_code == code), None)

    def add_record(self, space: Space, start_time: datetime) -> ConferenceRecord:
        record = ConferenceRecord(self.new_id(), space, start_time)
        with self.lock:
            self.records[record.id] = record
        return record

    def record(self, record_id: str) -> ConferenceRecord | None:
        with self.lock:
            return self.records.get(record_id)

    # --- calendar ---------------------------------------------------------------------------

    def event(self, calendar_id: str, event_id: str) -> CalendarEvent | None:
        with self.lock:
            return self.events.get((calendar_id.lower(), event_id))

    # --- paging -----------------------------------------------------------------------------

    def issue_page_token(self, listing: str, offset: int) -> str:
        token = secrets.token_urlsafe(18)
        with self.lock:
            self._page_tokens[token] = PageCursor(listing, offset)
        return token

    def redeem_page_token(self, token: str, listing: str) -> int | None:
        with self.lock:
            cursor = self._page_tokens.get(token)
        if cursor is None or cursor.listing != listing:
            return None
        return cursor.offset

    # --- subscriptions ----------------------------------------------------------------------

    def live_subscriptions(self) -> list[Subscription]:
        """Active subscriptions; expired ones are deleted first, as Google deletes them."""
        now = self.now()
        with self.lock:
            for sub_id in [s.id for s in self.subscriptions.values() if s.expire_time <= now]:
                del self.subscriptions[sub_id]
            return [s for s in self.subscriptions.values() if s.state == "ACTIVE"]

    def subscribed(self, space: Space, event_type: str) -> list[Subscription]:
        """The subscriptions an event of `space` goes to: on the space itself or on its owner."""
        targets = {
            f"//meet.googleapis.com/{space.name}",
            f"//cloudidentity.googleapis.com/users/{space.owner.id}",
        }
        return [
            s
            for s in self.live_subscriptions()
            if s.target_resource in targets and event_type in s.event_types
        ]
