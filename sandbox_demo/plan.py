"""The demo month, decided up front from a seed: every meeting the org schedules, and what really
happens in it (who joins when, who drops and rejoins, late starts, overruns, no-shows,
cancellations). Provider-neutral: `players.py` turns an outcome into a provider's script.

Internal series: a daily stand-up (Teams), a weekly pipeline review (Zoom), a Wednesday enablement
session (Zoom), 1:1s of the head of sales with each AE (Meet) and a Thursday forecast call (Zoom).
Customer meetings: discovery calls, demos (with the solutions engineer) and one QBR per account,
on the provider the routing rules give (the AE's own, or Teams for Microsoft 365 customers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sandbox_demo.org import (
    ACCOUNT_EXECUTIVES,
    ACCOUNTS,
    HEAD_OF_SALES,
    SOLUTIONS_ENGINEER,
    Account,
    Person,
)

OFFICE_TIMEZONE = "Europe/Berlin"
_OFFICE = ZoneInfo(OFFICE_TIMEZONE)


class Outcome(StrEnum):
    HELD = "held"
    CUSTOMER_NO_SHOW = "customer no-show"
    HOST_NO_SHOW = "host no-show"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Session:
    """One connection of one person (a second device is a second, overlapping session)."""

    who: Person
    joined_at: datetime
    left_at: datetime  # the meeting's end when they stayed to the end
    device: str = "desktop"


@dataclass(frozen=True)
class Happened:
    """What really happened in a meeting: when it ran, and every session in it."""

    started_at: datetime
    ended_at: datetime
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class PlannedMeeting:
    ref: str  # the CRM's id for it (external_ref.id)
    series: str  # "stand-up", "demo", ... (for the summary)
    title: str
    kind: str  # internal or customer
    organizer: Person
    attendees: tuple[Person, ...]
    start: datetime  # scheduled, UTC
    duration_minutes: int
    provider: str | None  # None: the routing rules decide
    outcome: Outcome
    happened: Happened | None = None  # None when cancelled
    notes: tuple[str, ...] = field(default_factory=tuple)  # late start, overrun, rejoin...


@dataclass(frozen=True)
class MonthPlan:
    meetings: tuple[PlannedMeeting, ...]
    first_day: date
    last_day: date


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=_OFFICE).astimezone(UTC)


class _Planner:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible story, not security
        self.seed = seed
        self.meetings: list[PlannedMeeting] = []

    def add(
        self,
        series: str,
        title: str,
        organizer: Person,
        attendees: tuple[Person, ...],
        start: datetime,
        minutes: int,
        provider: str | None,
        *,
        overrun_chance: float,
        overrun_range: tuple[int, int],
    ) -> None:
        rng = self.rng
        customer = any(not p.internal for p in attendees)
        roll = rng.random()
        if roll < 0.05:
            outcome = Outcome.CANCELLED
        elif customer and roll < 0.17:
            outcome = Outcome.CUSTOMER_NO_SHOW
        elif customer and roll < 0.21:
            outcome = Outcome.HOST_NO_SHOW
        else:
            outcome = Outcome.HELD
        notes: list[str] = []
        happened = None
        if outcome is not Outcome.CANCELLED:
            happened = self._happen(
                organizer, attendees, start, minutes, outcome, overrun_chance, overrun_range, notes
            )
        ref = f"demo-{self.seed}-{len(self.meetings) + 1:04d}"
        self.meetings.append(
            PlannedMeeting(
                ref,
                series,
                title,
                "customer" if customer else "internal",
                organizer,
                attendees,
                start,
                minutes,
                provider,
                outcome,
                happened,
                tuple(notes),
            )
        )

    def _happen(
        self,
        host: Person,
        attendees: tuple[Person, ...],
        start: datetime,
        minutes: int,
        outcome: Outcome,
        overrun_chance: float,
        overrun_range: tuple[int, int],
        notes: list[str],
    ) -> Happened:
        rng = self.rng
        internal_guests = [p for p in attendees if p.internal]
        customers = [p for p in attendees if not p.internal]
        if outcome is Outcome.HOST_NO_SHOW:
            # Nobody from our side comes; the customers wait, then give up.
            opened = start + timedelta(seconds=rng.randint(0, 120))
            ended = opened + timedelta(minutes=rng.randint(8, 14))
            sessions = [Session(c, opened + timedelta(seconds=rng.randint(0, 180)), ended) for c in customers]
            return Happened(opened, ended, tuple(sessions))

        late_start = rng.random() < 0.15
        delay = rng.randint(300, 720) if late_start else rng.randint(-60, 150)
        if late_start:
            notes.append("late start")
        opened = start + timedelta(seconds=delay)
        if outcome is Outcome.CUSTOMER_NO_SHOW:
            ended = opened + timedelta(minutes=rng.randint(10, 15))
            present = [host, *(p for p in internal_guests if rng.random() < 0.8)]
            return Happened(opened, ended, tuple(Session(p, opened, ended) for p in present))

        length = minutes * 60 - max(0, delay)
        if rng.random() < overrun_chance:
            length = minutes * 60 + rng.randint(*overrun_range) * 60
            notes.append("overrun")
        elif rng.random() < 0.2:
            length -= rng.randint(2, 8) * 60  # done early
        ended = opened + timedelta(seconds=max(length, 300))
        sessions = [Session(host, opened, ended)]
        for person in [*internal_guests, *customers]:
            if person.internal and rng.random() < 0.08:
                continue  # a colleague skips it
            late = rng.random() < 0.15
            joined = opened + timedelta(seconds=rng.randint(240, 600) if late else rng.randint(0, 150))
            if joined >= ended - timedelta(minutes=2):
                continue
            if rng.random() < 0.15 and ended - joined > timedelta(minutes=10):
                # The connection drops; they rejoin a minute or three later.
                dropped = joined + (ended - joined) * rng.uniform(0.3, 0.7)
                dropped = dropped.replace(microsecond=0)
                back = dropped + timedelta(seconds=rng.randint(40, 180))
                sessions += [Session(person, joined, dropped), Session(person, back, ended)]
                notes.append("rejoin")
            else:
                sessions.append(Session(person, joined, ended))
            if rng.random() < 0.05:
                # Dials in from the phone as well, for a while (a second device, counted once).
                phone_from = joined + timedelta(minutes=2)
                if phone_from < ended:
                    sessions.append(
                        Session(person, phone_from, min(ended, phone_from + timedelta(minutes=5)), "phone")
                    )
        return Happened(opened, ended, tuple(sessions))


def plan_month(today: date, days: int, seed: int) -> MonthPlan:
    """Every meeting of the `days` days before `today` (weekdays only), seeded."""
    planner = _Planner(seed)
    rng = planner.rng
    first_day = today - timedelta(days=days)
    team = (*ACCOUNT_EXECUTIVES, SOLUTIONS_ENGINEER)
    weekdays = [o for o in range(days) if (first_day + timedelta(days=o)).weekday() < 5]
    qbr_due = {account.name: rng.choice(weekdays) for account in ACCOUNTS} if weekdays else {}
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        planner.add(
            "stand-up",
            "Sales stand-up",
            HEAD_OF_SALES,
            team,
            _at(day, 9, 0),
            15,
            "teams",
            overrun_chance=0.25,
            overrun_range=(3, 10),
        )
        if day.weekday() == 0:
            planner.add(
                "pipeline review",
                "Weekly pipeline review",
                HEAD_OF_SALES,
                team,
                _at(day, 10, 0),
                60,
                "zoom",
                overrun_chance=0.5,
                overrun_range=(10, 25),
            )
        if day.weekday() == 2:
            planner.add(
                "enablement",
                "Sales enablement session",
                HEAD_OF_SALES,
                team,
                _at(day, 9, 30),
                90,
                "zoom",
                overrun_chance=0.3,
                overrun_range=(5, 15),
            )
        if day.weekday() == 3:
            planner.add(
                "forecast call",
                "Forecast call",
                HEAD_OF_SALES,
                ACCOUNT_EXECUTIVES,
                _at(day, 16, 0),
                45,
                "zoom",
                overrun_chance=0.3,
                overrun_range=(5, 15),
            )
        one_on_one = ACCOUNT_EXECUTIVES[offset % 5] if day.weekday() in (1, 2) else None
        if one_on_one is not None:
            planner.add(
                "1:1",
                f"1:1 {HEAD_OF_SALES.name.split()[0]} / {one_on_one.name.split()[0]}",
                HEAD_OF_SALES,
                (one_on_one,),
                _at(day, 14, 0),
                30,
                "meet",
                overrun_chance=0.2,
                overrun_range=(5, 10),
            )
        for account in ACCOUNTS:
            _customer_meetings(planner, account, day, qbr_due.get(account.name) == offset)
    return MonthPlan(tuple(planner.meetings), first_day, today - timedelta(days=1))


def _customer_meetings(planner: _Planner, account: Account, day: date, qbr: bool) -> None:
    rng = planner.rng
    contacts = account.contacts
    if qbr:
        planner.add(
            "QBR",
            f"{account.name} quarterly business review",
            account.owner,
            (*contacts, HEAD_OF_SALES),
            _at(day, 15, 0),
            60,
            None,
            overrun_chance=0.4,
            overrun_range=(5, 20),
        )
    roll = rng.random()
    hour = rng.choice((11, 12, 13, 16))
    if roll < 0.3:
        planner.add(
            "discovery call",
            f"{account.name}: discovery call",
            account.owner,
            (rng.choice(contacts),),
            _at(day, hour, 30),
            30,
            None,
            overrun_chance=0.2,
            overrun_range=(3, 10),
        )
    elif roll < 0.5:
        planner.add(
            "demo",
            f"{account.name}: product demo",
            account.owner,
            (*contacts, SOLUTIONS_ENGINEER),
            _at(day, hour, 0),
            45,
            None,
            overrun_chance=0.35,
            overrun_range=(5, 20),
        )
