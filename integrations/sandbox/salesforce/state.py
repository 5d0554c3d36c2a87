"""Everything the emulated org holds (records, sessions, API usage, faults), inspectable from tests.

One lock guards it all: the ASGI server thread, the outbound-message sender and a test touch it
concurrently, and every operation is short.
"""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.sandbox.salesforce.config import KEY_PREFIXES, SalesforceEmulatorConfig

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class InjectedFault:
    status: int
    error_code: str
    message: str
    retry_after: str | None = None


SERVER_UNAVAILABLE = InjectedFault(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
REQUEST_LIMIT_EXCEEDED = InjectedFault(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def too_many_requests(retry_after: str | None = "30") -> InjectedFault:
    return InjectedFault(
        429, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", retry_after
    )


class ApiFaults:
    """Counted faults ("the next N calls") first, then an outage window on the org's clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[InjectedFault] = []
        self._outage_until: datetime | None = None
        self._outage_faults: tuple[InjectedFault, ...] = ()
        self._outage_calls = 0
        self.latency_seconds = 0.0

    def fail_next(self, count: int, fault: InjectedFault = SERVER_UNAVAILABLE) -> None:
        with self._lock:
            self._queued.extend(fault for _ in range(count))

    def outage(self, until: datetime, faults: tuple[InjectedFault, ...] = (SERVER_UNAVAILABLE,)) -> None:
        """Every API call fails until `until` (org clock), cycling through `faults`."""
        with self._lock:
            self._outage_until = until
            self._outage_faults = faults
            self._outage_calls = 0

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self._outage_until = None
            self.latency_seconds = 0.0

    def next_fault(self, now: datetime) -> InjectedFault | None:
        with self._lock:
            if self._queued:
                return self._queued.pop(0)
            if self._outage_until is not None and now < self._outage_until and self._outage_faults:
                fault = self._outage_faults[self._outage_calls % len(self._outage_faults)]
                self._outage_calls += 1
                return fault
            return None


@dataclass
class Session:
    username: str
    last_used: datetime


@dataclass
class RecordWrite:
    """One accepted PATCH (or create), as the org's field history would show it."""

    sobject: str
    record_id: str
    fields: dict[str, Any]
    at: datetime


@dataclass
class SalesforceEmulatorState:
    config: SalesforceEmulatorConfig
    lock: threading.RLock = field(default_factory=threading.RLock)
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    writes: list[RecordWrite] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)
    api_calls_used: int = 0
    token_requests: int = 0
    api_requests: list[tuple[str, str]] = field(default_factory=list)
    faults: ApiFaults = field(default_factory=ApiFaults)

    def __post_init__(self) -> None:
        self._random = random.Random(self.config.seed)  # noqa: S311 - ids, not security

    def now(self) -> datetime:
        return self.config.clock()

    def new_record_id(self, sobject: str) -> str:
        prefix = KEY_PREFIXES.get(sobject, "a00")
        body = "".join(self._random.choice(_ID_ALPHABET) for _ in range(12))
        return f"{prefix}{body}AAA"

    def create_record(self, sobject: str, fields: dict[str, Any]) -> str:
        """A record as if a rep had made it in Salesforce (tests and the demo start from one)."""
        if sobject not in self.config.objects:
            raise KeyError(sobject)
        with self.lock:
            record_id = self.new_record_id(sobject)
            self.records[(sobject, record_id)] = {"Id": record_id, "LastModifiedDate": self.now(), **fields}
            return record_id

    def edit_record(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """A rep's edit in Salesforce: the fields change and `LastModifiedDate` moves to now."""
        with self.lock:
            self.records[(sobject, record_id)].update({**fields, "LastModifiedDate": self.now()})

    def record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.records.get((sobject, record_id))
            return dict(found) if found is not None else None

    def update_record(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            self.records[(sobject, record_id)].update(fields)
            self.writes.append(RecordWrite(sobject, record_id, dict(fields), self.now()))

    def issue_session(self, username: str) -> str:
        token = f"{self.config.organization_id}!{secrets.token_urlsafe(48)}"
        with self.lock:
            self.token_requests += 1
            self.sessions[token] = Session(username, self.now())
        return token

    def end_sessions(self) -> None:
        """Log every session out (a password change, an admin's revoke): the next call gets 401."""
        with self.lock:
            self.sessions.clear()

    def use_session(self, token: str) -> bool:
        """Whether the token is a live session; using it keeps it alive, as Salesforce does."""
        timeout = timedelta(seconds=self.config.session_timeout_seconds)
        with self.lock:
            session = self.sessions.get(token)
            now = self.now()
            if session is None or now - session.last_used > timeout:
                self.sessions.pop(token, None)
                return False
            session.last_used = now
            return True

    def count_api_call(self) -> tuple[bool, str]:
        """Count one call against the daily limit: (allowed, the Sforce-Limit-Info value)."""
        with self.lock:
            allowed = self.api_calls_used < self.config.daily_api_limit
            if allowed:
                self.api_calls_used += 1
            return allowed, f"api-usage={self.api_calls_used}/{self.config.daily_api_limit}"
