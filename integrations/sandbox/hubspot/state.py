"""The HubSpot emulator's state: the portal's meeting engagements, its limits, and injected faults."""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.sandbox.clock import Clock, utc_now

# hs_meeting_outcome's default options (a portal may add its own).
OUTCOMES = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
STANDARD_PROPERTIES = frozenset(
    {
        "hs_timestamp",
        "hs_meeting_title",
        "hubspot_owner_id",
        "hs_meeting_body",
        "hs_internal_meeting_notes",
        "hs_meeting_external_url",
        "hs_meeting_location",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_meeting_outcome",
    }
)
# HUBSPOT_DEFINED association type ids from a meeting: to contact, company, deal.
ASSOCIATION_TYPES = {200: "contacts", 188: "companies", 212: "deals"}


@dataclass
class EmulatedMeeting:
    id: str
    properties: dict[str, str]
    associations: dict[str, list[str]]
    created_at: datetime
    updated_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "properties": dict(self.properties),
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "archived": False,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Outage:
    """From `start` until `until`, API calls alternate between 429 (TEN_SECONDLY_ROLLING) and 503."""

    start: datetime
    until: datetime


@dataclass
class HubSpotEmulatorState:
    access_token: str
    app_secret: str
    portal_id: int = 62515
    clock: Clock = utc_now
    custom_properties: frozenset[str] = frozenset({"salesmeet_minutes", "salesmeet_attendance"})
    # Per 10 s rolling window, and per day (the portal's tier).
    ten_second_limit: int = 190
    daily_limit: int = 625_000
    meetings: dict[str, EmulatedMeeting] = field(default_factory=dict)
    outages: list[Outage] = field(default_factory=list)
    # Statuses the next API calls answer with, in order (fault injection), before any work is done.
    next_failures: list[int] = field(default_factory=list)
    # Every API call: (method, path, status).
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _window: list[datetime] = field(default_factory=list)
    _day: tuple[str, int] = ("", 0)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(90_000_000_001))
    _outage_flip: int = 0

    def new_id(self) -> str:
        return str(next(self._ids))

    def correlation_id(self) -> str:
        return str(uuid.uuid4())

    def outage_for(self, duration: timedelta) -> Outage:
        """429s and 503s from now for `duration` (on the emulator's clock)."""
        now = self.clock()
        outage = Outage(now, now + duration)
        self.outages.append(outage)
        return outage

    def fault_now(self) -> int | None:
        """The failure this call gets, if any: an injected one, or the current outage's."""
        if self.next_failures:
            return self.next_failures.pop(0)
        now = self.clock()
        if any(o.start <= now < o.until for o in self.outages):
            self._outage_flip += 1
            return 429 if self._outage_flip % 2 else 503
        return None

    def take_rate(self) -> str | None:
        """Count a call against the limits; the policy it broke, if any."""
        now = self.clock()
        day = now.date().isoformat()
        if self._day[0] != day:
            self._day = (day, 0)
        if self._day[1] >= self.daily_limit:
            return "DAILY"
        self._window = [t for t in self._window if t > now - timedelta(seconds=10)]
        if len(self._window) >= self.ten_second_limit:
            return "TEN_SECONDLY_ROLLING"
        self._window.append(now)
        self._day = (day, self._day[1] + 1)
        return None

    def remaining(self) -> tuple[int, int]:
        return max(0, self.ten_second_limit - len(self._window)), max(0, self.daily_limit - self._day[1])

    def meetings_associated_to(self, kind: str, object_id: str) -> list[EmulatedMeeting]:
        return [m for m in self.meetings.values() if object_id in m.associations.get(kind, [])]
