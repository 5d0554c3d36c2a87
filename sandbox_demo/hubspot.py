"""The demo's HubSpot portal: every customer meeting of the month is a deal whose workflow "Send a
webhook" action tells salesmeet about it, as the admin sets it up (docs/crm-hubspot.md): the
customised body that `crm.hubspot`'s default mapping reads, signed v3 with the app secret by the
emulator's sender. A cancelled meeting is a second delivery of the same deal, with
`meeting_status: cancelled` and a later `hs_lastmodifieddate`.

After the play the emulated portal holds the meeting engagements salesmeet wrote back, one per deal,
with `hs_meeting_outcome` COMPLETED, NO_SHOW or CANCELED.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from integrations.crm.hubspot.sandbox import HubSpotSandbox
from integrations.sandbox.hubspot.sender import HubSpotSender
from integrations.sandbox.hubspot.state import EmulatedMeeting
from sandbox_demo.org import Person
from sandbox_demo.plan import OFFICE_TIMEZONE, MonthPlan, Outcome, PlannedMeeting

CRM = "hubspot"
# HubSpot's ids are numbers; deals get one from here on, one per customer meeting of the month.
FIRST_DEAL_ID = 9_400_000_001
# When the deal was last changed before its delivery: booked a week ahead, cancelled the day before.
BOOKED_AHEAD = timedelta(days=7)
CANCELLED_AHEAD = timedelta(days=1)
# hs_meeting_outcome as the write-back sets it for each outcome the plan decides
# (HubSpot has no host no-show option: salesmeet_attendance tells the two no-shows apart).
# The demo portal's tier: Professional with HubSpot's API limit increase (250 calls per 10 s; 190
# without it), so a month's write-back burst fits. A longer month waits out the limit, as `serve` would.
TEN_SECOND_LIMIT = 250
EXPECTED_OUTCOME = {
    Outcome.HELD: "COMPLETED",
    Outcome.CUSTOMER_NO_SHOW: "NO_SHOW",
    Outcome.HOST_NO_SHOW: "NO_SHOW",
    Outcome.CANCELLED: "CANCELED",
}


def _hubspot_id(person: Person, digits: int) -> str:
    """A stable HubSpot-like numeric id (owner or contact) for a person of the demo org."""
    return str(int(hashlib.sha256(person.email.encode()).hexdigest(), 16))[:digits]


def comes_from_hubspot(meeting: PlannedMeeting) -> bool:
    """Customer meetings are booked on deals; the internal series stay on the calendar (the API)."""
    return meeting.kind == "customer"


def deal_ids(plan: MonthPlan) -> dict[str, str]:
    """Plan ref -> the HubSpot deal its meeting is booked on."""
    deals = (m for m in plan.meetings if comes_from_hubspot(m))
    return {m.ref: str(FIRST_DEAL_ID + number) for number, m in enumerate(deals)}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def booking(meeting: PlannedMeeting, deal_id: str) -> dict[str, Any]:
    """The workflow action's customised body when the AE books the meeting on the deal."""
    customers = [p for p in meeting.attendees if not p.internal]
    return {
        "hs_object_id": deal_id,
        "meeting_title": meeting.title,
        "meeting_start": _ms(meeting.start),
        "meeting_duration_minutes": meeting.duration_minutes,
        "meeting_timezone": OFFICE_TIMEZONE,
        "owner_email": meeting.organizer.email,
        "hubspot_owner_id": _hubspot_id(meeting.organizer, 9),
        # Everyone invited: the deal's contacts and the colleagues the AE brings along.
        "contact_emails": ";".join(f"{p.name} <{p.email}>" for p in meeting.attendees),
        "contact_ids": ";".join(_hubspot_id(p, 11) for p in customers),
        "hs_lastmodifieddate": _iso(meeting.start - BOOKED_AHEAD),
    }


def cancellation(meeting: PlannedMeeting, deal_id: str) -> dict[str, Any]:
    return {
        **booking(meeting, deal_id),
        "meeting_status": "cancelled",
        "hs_lastmodifieddate": _iso(meeting.start - CANCELLED_AHEAD),
    }


@dataclass
class DemoPortal:
    """The emulated portal and HubSpot's side of the calls (its signed workflow deliveries).
    A context manager: its sender keeps one HTTP client for the month's deliveries."""

    sandbox: HubSpotSandbox
    deals: dict[str, str]  # plan ref -> deal id
    sender: HubSpotSender

    @classmethod
    def open(cls, sandbox: HubSpotSandbox, deals: dict[str, str]) -> DemoPortal:
        http = httpx.Client(timeout=sandbox.sender.timeout_seconds)
        return cls(sandbox, deals, dataclasses.replace(sandbox.sender, http=http))

    def __enter__(self) -> DemoPortal:
        return self

    def __exit__(self, *_: object) -> None:
        if self.sender.http is not None:
            self.sender.http.close()

    def send(self, record: dict[str, Any]) -> int | None:
        """One workflow delivery with HubSpot's retries; the last answer's status."""
        attempts = self.sender.deliver(record)
        return attempts[-1].status if attempts else None

    def book(self, meeting: PlannedMeeting) -> int | None:
        return self.send(booking(meeting, self.deals[meeting.ref]))

    def cancel(self, meeting: PlannedMeeting) -> int | None:
        return self.send(cancellation(meeting, self.deals[meeting.ref]))

    def engagements(self) -> list[EmulatedMeeting]:
        state = self.sandbox.state
        with state.lock:
            return list(state.meetings.values())


def outcome_counts(engagements: Iterable[EmulatedMeeting]) -> Counter[str]:
    """hs_meeting_outcome -> engagements."""
    return Counter(e.properties.get("hs_meeting_outcome", "") for e in engagements)


def outcomes_line(counts: Counter[str]) -> str:
    order = ("COMPLETED", "NO_SHOW", "CANCELED")
    named = [f"{counts[o]} {o}" for o in order if counts[o]]
    named += [f"{n} {o or 'without outcome'}" for o, n in sorted(counts.items()) if o not in order]
    return ", ".join(named) or "none"
