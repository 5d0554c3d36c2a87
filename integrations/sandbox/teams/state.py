"""Everything the emulated tenant holds, inspectable from tests.

One lock guards it all: the ASGI server thread, the meeting player and a test touch it
concurrently, and every operation is short.
"""

from __future__ import annotations

import base64
import random
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from integrations.sandbox.teams.config import EntraUser, TeamsEmulatorConfig
from integrations.sandbox.teams.faults import GraphFaults


class TokenStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass
class OnlineMeeting:
    id: str
    organizer: EntraUser
    external_id: str | None
    subject: str
    start: datetime
    end: datetime
    attendees: list[dict[str, Any]]
    join_web_url: str
    join_meeting_id: str
    passcode: str
    chat_thread_id: str
    created: datetime
    is_passcode_required: bool = True


@dataclass
class CallSession:
    """One participant's leg of a call (one device, one join): a `callRecords.session`."""

    id: str
    start: datetime
    end: datetime
    caller: dict[str, Any]  # a participantEndpoint
    modalities: tuple[str, ...] = ("audio", "video")


@dataclass
class CallRecord:
    id: str
    join_web_url: str
    organizer: EntraUser
    start: datetime
    end: datetime
    last_modified: datetime
    sessions: list[CallSession] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)  # identitySets
    version: int = 1


@dataclass
class AttendanceRecordData:
    identity: dict[str, Any]  # {id, displayName, tenantId}
    email: str | None
    role: str
    intervals: list[tuple[datetime, datetime]]


@dataclass
class AttendanceReportData:
    id: str
    meeting_id: str
    start: datetime
    end: datetime
    records: list[AttendanceRecordData]


@dataclass
class Subscription:
    id: str
    resource: str
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    application_id: str
    reauthorized_count: int = 0


@dataclass(frozen=True)
class PageCursor:
    listing: str  # what is paged: "records:<report id>", "sessions:<call record id>"
    offset: int


class TeamsEmulatorState:
    def __init__(self, config: TeamsEmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.faults = GraphFaults(config.seed)
        self._random = random.Random(config.seed)  # noqa: S311 - reproducible ids, not security
        self._tokens: dict[str, datetime] = {}
        self.meetings: dict[str, OnlineMeeting] = {}
        self.deleted_meeting_ids: set[str] = set()
        self.call_records: dict[str, CallRecord] = {}
        self.attendance_reports: dict[str, list[AttendanceReportData]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._cursors: dict[str, PageCursor] = {}
        self.token_requests = 0
        self.discovery_requests = 0
        self.validation_results: list[tuple[str, bool]] = []
        # The latest Graph requests as (method, path with query), for tests and the admin.
        self.api_requests: deque[tuple[str, str]] = deque(maxlen=2000)

    def now(self) -> datetime:
        return self.config.clock()

    # --- tokens --------------------------------------------------------------------------------

    def issue_token(self) -> str:
        with self.lock:
            self.token_requests += 1
            token = "eyJ0eXAiOiJKV1QiLCJzYW5kYm94Ijp0cnVlfQ." + secrets.token_urlsafe(32)
            self._tokens[token] = self.now() + timedelta(seconds=self.config.token_expires_in)
            return token

    def token_status(self, token: str) -> TokenStatus:
        with self.lock:
            expires_at = self._tokens.get(token)
        if expires_at is None:
            return TokenStatus.INVALID
        return TokenStatus.VALID if self.now() < expires_at else TokenStatus.EXPIRED

    def expire_all_tokens(self) -> None:
        """Fault injection: every token issued so far is expired from now on."""
        with self.lock:
            self._tokens = dict.fromkeys(self._tokens, self.now())

    # --- identifiers ---------------------------------------------------------------------------

    def new_guid(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def new_meeting_id(self, organizer: EntraUser) -> tuple[str, str]:
        """Graph's online meeting id (base64 of `1*{organizer}*0**{thread}`) and its chat thread."""
        with self.lock:
            chat = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        thread = f"19:meeting_{base64.b64encode(chat.encode()).decode()}@thread.v2"
        raw = f"1*{organizer.id}*0**{thread}".encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="), thread

    # --- meetings ------------------------------------------------------------------------------

    def add_meeting(
        self,
        organizer: EntraUser,
        *,
        subject: str,
        start: datetime,
        end: datetime,
        attendees: list[dict[str, Any]] | None = None,
        external_id: str | None = None,
    ) -> OnlineMeeting:
        meeting_id, thread = self.new_meeting_id(organizer)
        context = quote(f'{{"Tid":"{self.config.tenant_id}","Oid":"{organizer.id}"}}', safe="")
        join_url = f"{self.config.join_url_base}/{quote(thread, safe='')}/0?context={context}"
        with self.lock:
            meeting = OnlineMeeting(
                id=meeting_id,
                organizer=organizer,
                external_id=external_id,
                subject=subject,
                start=start,
                end=end,
                attendees=list(attendees or []),
                join_web_url=join_url,
                join_meeting_id=str(self._random.randrange(10**11, 10**12)),
                passcode=secrets.token_urlsafe(6),
                chat_thread_id=thread,
                created=self.now(),
            )
            self.meetings[meeting_id] = meeting
        return meeting

    def meeting_by_external_id(self, organizer: EntraUser, external_id: str) -> OnlineMeeting | None:
        with self.lock:
            return next(
                (
                    m
                    for m in self.meetings.values()
                    if m.organizer.id == organizer.id and m.external_id == external_id
                ),
                None,
            )

    def meeting(self, meeting_id: str) -> OnlineMeeting | None:
        with self.lock:
            return self.meetings.get(meeting_id)

    def delete_meeting(self, meeting_id: str) -> None:
        with self.lock:
            self.meetings.pop(meeting_id, None)
            self.deleted_meeting_ids.add(meeting_id)

    # --- subscriptions -------------------------------------------------------------------------

    def live_subscription(self, subscription_id: str) -> Subscription | None:
        """A subscription Graph still holds: one past its expiry is removed, as Graph removes it."""
        with self.lock:
            found = self.subscriptions.get(subscription_id)
            if found is not None and found.expiration <= self.now():
                del self.subscriptions[subscription_id]
                return None
            return found

    def live_subscriptions(self, resource_prefix: str = "") -> list[Subscription]:
        with self.lock:
            ids = list(self.subscriptions)
        found = [self.live_subscription(i) for i in ids]
        return [s for s in found if s is not None and s.resource.lstrip("/").startswith(resource_prefix)]

    # --- paging --------------------------------------------------------------------------------

    def issue_cursor(self, listing: str, offset: int) -> str:
        with self.lock:
            token = secrets.token_urlsafe(18)
            self._cursors[token] = PageCursor(listing, offset)
            return token

    def redeem_cursor(self, token: str, listing: str) -> int | None:
        with self.lock:
            cursor = self._cursors.get(token)
        if cursor is None or cursor.listing != listing:
            return None
        return cursor.offset
