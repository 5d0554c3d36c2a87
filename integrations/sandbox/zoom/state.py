"""Everything the emulated Zoom account holds, inspectable from tests.

One lock guards it all: the ASGI server thread and a test (or the meeting player) touch it
concurrently, and every operation is short.
"""

from __future__ import annotations

import base64
import random
import secrets
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from integrations.sandbox.zoom.config import ZoomEmulatorConfig, ZoomRealism, ZoomUser
from integrations.sandbox.zoom.faults import ApiFaults


class TokenStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass
class ParticipantSession:
    """One join session as it truly happened (ground truth, and one row of the report)."""

    participant_user_id: str  # per-meeting numeric id (webhook participant.user_id, report user_id)
    participant_uuid: str
    zoom_user_id: str  # Zoom user id; "" for guests and phone users
    name: str
    email: str  # "" for guests and phone users
    device: str
    joined_at: datetime
    left_at: datetime | None = None
    # Time in the waiting room (not attendance): a row with status in_waiting_room.
    in_waiting_room: bool = False


@dataclass
class Registrant:
    id: str
    email: str
    first_name: str
    last_name: str
    join_url: str
    status: str = "approved"  # approved | cancelled


@dataclass(frozen=True)
class Visible:
    """What Zoom tells of a participant in webhooks and reports."""

    email: str
    zoom_user_id: str
    registrant_id: str


@dataclass
class MeetingInstance:
    uuid: str
    meeting_id: int
    started_at: datetime
    ended_at: datetime | None = None
    sessions: list[ParticipantSession] = field(default_factory=list)


@dataclass
class EmulatedMeeting:
    id: int
    uuid: str
    host: ZoomUser
    topic: str
    type: int
    start_time: datetime | None
    duration: int
    timezone: str
    agenda: str
    created_at: datetime
    password: str
    settings: dict[str, Any]
    join_url: str
    instances: list[MeetingInstance] = field(default_factory=list)
    registrants: dict[str, Registrant] = field(default_factory=dict)  # by lower-cased e-mail

    @property
    def registration_enabled(self) -> bool:
        # approval_type 0 (automatic) or 1 (manual); 2 (the default) is no registration.
        return self.settings.get("approval_type", 2) in (0, 1)

    def registrant_of(self, email: str) -> Registrant | None:
        found = self.registrants.get(email.strip().lower()) if email.strip() else None
        return found if found is not None and found.status == "approved" else None

    @property
    def in_progress(self) -> bool:
        return any(i.ended_at is None for i in self.instances)

    @property
    def status(self) -> str:
        return "started" if self.in_progress else "waiting"


@dataclass(frozen=True)
class PageCursor:
    instance_uuid: str
    offset: int
    issued_at: datetime


class ZoomEmulatorState:
    def __init__(self, config: ZoomEmulatorConfig) -> None:
        self.config = config
        # Switchable at run time (tests show both the kind and the real behaviour).
        self.realism: ZoomRealism = config.realism
        self.lock = threading.RLock()
        self.faults = ApiFaults(config.seed)
        self._random = random.Random(config.seed)  # noqa: S311 - reproducible ids, not security
        self._tokens: dict[str, datetime] = {}
        self.meetings: dict[int, EmulatedMeeting] = {}
        self.deleted_meeting_ids: set[int] = set()
        self._uuids_issued = 0
        self._create_update_counts: dict[tuple[str, str], int] = {}
        self._second_counts: dict[int, int] = {}
        self._page_cursors: dict[str, PageCursor] = {}
        self.token_requests = 0
        # The latest /v2 requests as (method, raw path), for tests and the admin to inspect.
        self.api_requests: deque[tuple[str, str]] = deque(maxlen=1000)
        # /v2 calls refused by the guard, by HTTP status (429s from limits and faults, 401s, 5xx).
        self.refused: Counter[int] = Counter()

    def now(self) -> datetime:
        return self.config.clock()

    # --- tokens -------------------------------------------------------------------------------

    def issue_token(self) -> str:
        with self.lock:
            self.token_requests += 1
            token = secrets.token_urlsafe(32)
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
            now = self.now()
            self._tokens = dict.fromkeys(self._tokens, now)

    # --- identifiers --------------------------------------------------------------------------

    def new_uuid(self) -> str:
        """A base64-like instance uuid; every third starts with '/' and every third has '//'.

        Zoom requires double URL-encoding for exactly those shapes, so clients must meet them.
        """
        with self.lock:
            n = self._uuids_issued
            self._uuids_issued += 1
            raw = base64.b64encode(self._random.randbytes(16)).decode("ascii")
        if n % 3 == 0:
            return "/" + raw[1:]
        if n % 3 == 1:
            return raw[:6] + "//" + raw[8:]
        return raw

    def new_meeting_id(self) -> int:
        with self.lock:
            while True:
                candidate = self._random.randrange(10**10, 10**11)
                if candidate not in self.meetings and candidate not in self.deleted_meeting_ids:
                    return candidate

    def new_password(self) -> str:
        with self.lock:
            return f"{self._random.randrange(10**8):08d}"

    def add_meeting(
        self,
        host: ZoomUser,
        *,
        topic: str = "Zoom Meeting",
        type: int = 2,
        start_time: datetime | None = None,
        duration: int = 60,
        timezone: str = "UTC",
        agenda: str = "",
        password: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> EmulatedMeeting:
        """Schedule a meeting in the account (what a create call does once it has validated its input)."""
        meeting_id = self.new_meeting_id()
        meeting = EmulatedMeeting(
            id=meeting_id,
            uuid=self.new_uuid(),
            host=host,
            topic=topic,
            type=type,
            start_time=start_time,
            duration=duration,
            timezone=timezone,
            agenda=agenda,
            created_at=self.now(),
            password=password if password is not None else self.new_password(),
            settings=dict(settings or {}),
            join_url=f"{self.config.join_url_base}/j/{meeting_id}?pwd={secrets.token_urlsafe(24)}",
        )
        with self.lock:
            self.meetings[meeting_id] = meeting
        return meeting

    # --- limits -------------------------------------------------------------------------------

    def count_create_update(self, user: ZoomUser) -> bool:
        """Count one create/update for `user` today (UTC); False once the daily limit is spent."""
        with self.lock:
            key = (user.id, self.now().date().isoformat())
            used = self._create_update_counts.get(key, 0)
            if used >= self.config.daily_create_update_limit:
                return False
            self._create_update_counts[key] = used + 1
            return True

    def count_this_second(self) -> bool:
        """Count one /v2 call in the current second; False when over the per-second limit."""
        limit = self.config.per_second_limit
        if limit is None:
            return True
        with self.lock:
            second = int(self.now().timestamp())
            self._second_counts = {second: self._second_counts.get(second, 0) + 1}
            return self._second_counts[second] <= limit

    # --- registrants and visibility -------------------------------------------------------------

    def register(self, meeting: EmulatedMeeting, email: str, first_name: str, last_name: str) -> Registrant:
        """Add (or re-approve) a registrant; registering an address twice gives the same registration."""
        key = email.strip().lower()
        with self.lock:
            found = meeting.registrants.get(key)
            if found is not None:
                found.status = "approved"
                return found
            registrant_id = base64.urlsafe_b64encode(self._random.randbytes(16)).decode("ascii").rstrip("=")
            registrant = Registrant(
                id=registrant_id,
                email=email.strip(),
                first_name=first_name,
                last_name=last_name,
                join_url=f"{meeting.join_url.split('?')[0]}?tk={secrets.token_urlsafe(24)}",
            )
            meeting.registrants[key] = registrant
            return registrant

    def visible(self, meeting: EmulatedMeeting, session: ParticipantSession) -> Visible:
        """Zoom hides who anyone outside the account is, unless they registered (then it tells their
        registrant id, and their e-mail unless that exception is switched off)."""
        registrant = meeting.registrant_of(session.email)
        registrant_id = registrant.id if registrant is not None else ""
        realism = self.realism
        if not realism.hide_external_identities or self.config.in_account(
            session.email, session.zoom_user_id
        ):
            return Visible(session.email, session.zoom_user_id, registrant_id)
        if registrant is not None and realism.registrant_emails_visible:
            return Visible(session.email, "", registrant_id)
        return Visible("", "", registrant_id)

    def has_report(self, instance: MeetingInstance) -> bool:
        """Zoom keeps a participants report only for an instance with two participants or more."""
        if not self.realism.no_report_below_two_participants:
            return True
        with self.lock:
            people = {
                (
                    s.email.strip().lower(),
                    s.zoom_user_id,
                    s.name if not (s.email.strip() or s.zoom_user_id) else "",
                )
                for s in instance.sessions
                if not s.in_waiting_room
            }
        return len(people) >= 2

    # --- meetings and instances ----------------------------------------------------------------

    def meeting(self, meeting_id: int) -> EmulatedMeeting | None:
        with self.lock:
            return self.meetings.get(meeting_id)

    def instance_by_uuid(self, uuid: str) -> MeetingInstance | None:
        with self.lock:
            for meeting in self.meetings.values():
                for instance in meeting.instances:
                    if instance.uuid == uuid:
                        return instance
            return None

    def issue_page_token(self, instance_uuid: str, offset: int) -> str:
        with self.lock:
            token = secrets.token_urlsafe(24)
            self._page_cursors[token] = PageCursor(instance_uuid, offset, self.now())
            return token

    def redeem_page_token(self, token: str) -> PageCursor | None:
        with self.lock:
            cursor = self._page_cursors.get(token)
        if cursor is None:
            return None
        if self.now() - cursor.issued_at > timedelta(seconds=self.config.page_token_ttl_seconds):
            return None
        return cursor
