"""Property tests: delivery order and duplicates never change the record, totals are the union.

Meetings are generated as per-participant sessions (rejoins, overlapping second devices, sessions
still open, joins in the waiting room), turned into provider events, then checked against an
oracle written here independently of the engine (an elementary-segment sweep over milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.base import AttendanceReport, ReportedSession
from service.domain.attendance import AttendanceRecord, Invitee, compute_attendance
from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import CompanyDomains, ProviderName

SCHEDULED = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
COMPANY = CompanyDomains.of(["acme.com"])
MIN_ATTENDANCE_SECONDS = 60
PEOPLE = (
    ParticipantIdentity("alice@acme.com", "p1", "Alice"),
    ParticipantIdentity("bob@eu.acme.com", "p2", "Bob"),
    ParticipantIdentity("carol@customer.io", "p3", "Carol"),
    ParticipantIdentity(None, "16092", "+1 555 0100"),
)
NEVER_JOINS = Invitee("dan@customer.io", "Dan")

PROPERTY_SETTINGS = settings(deadline=None, max_examples=150)


def at(ms: int) -> datetime:
    return SCHEDULED + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class GenSession:
    person: int
    index: int
    join_ms: int
    leave_ms: int | None  # None: no leave was ever sent
    keyed: bool

    @property
    def session_key(self) -> str | None:
        return f"s{self.person}.{self.index}" if self.keyed else None


@dataclass(frozen=True)
class GenMeeting:
    sessions: tuple[GenSession, ...]
    started_ms: int | None
    ended_ms: int | None
    as_of_ms: int


ms_offsets = st.integers(min_value=-300_000, max_value=3_600_000)


@st.composite
def meetings(draw: st.DrawFn, *, allow_open: bool = True, all_keyed: bool | None = None) -> GenMeeting:
    people = draw(st.lists(st.sampled_from(range(len(PEOPLE))), min_size=1, max_size=4, unique=True))
    sessions: list[GenSession] = []
    for person in people:
        for index in range(draw(st.integers(min_value=1, max_value=4))):
            join_ms = draw(ms_offsets)
            is_open = allow_open and draw(st.integers(min_value=0, max_value=5)) == 0
            # Lengths include 0 (join and leave at one instant) and sub-second parts.
            length = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=1_800_000)))
            keyed = draw(st.booleans()) if all_keyed is None else all_keyed
            sessions.append(GenSession(person, index, join_ms, None if is_open else join_ms + length, keyed))
    started_ms = draw(st.none() | st.integers(min_value=-60_000, max_value=600_000))
    ended_ms = draw(st.none() | st.integers(min_value=600_000, max_value=4_000_000))
    as_of_ms = draw(st.integers(min_value=0, max_value=5_000_000))
    return GenMeeting(tuple(sessions), started_ms, ended_ms, as_of_ms)


def meeting_events(meeting: GenMeeting) -> list[AttendanceEvent]:
    events: list[AttendanceEvent] = []
    if meeting.started_ms is not None:
        events.append(
            AttendanceEvent(
                ProviderName.ZOOM, "m1", EventType.MEETING_STARTED, at(meeting.started_ms), "start"
            )
        )
    if meeting.ended_ms is not None:
        events.append(
            AttendanceEvent(ProviderName.ZOOM, "m1", EventType.MEETING_ENDED, at(meeting.ended_ms), "end")
        )
    return events


def participant_events(meeting: GenMeeting) -> list[AttendanceEvent]:
    events: list[AttendanceEvent] = []
    for s in meeting.sessions:
        who = PEOPLE[s.person]
        events.append(
            AttendanceEvent(
                ProviderName.ZOOM,
                "m1",
                EventType.PARTICIPANT_JOINED,
                at(s.join_ms),
                f"join-{s.person}-{s.index}",
                participant=who,
                session_key=s.session_key,
            )
        )
        if s.leave_ms is not None:
            events.append(
                AttendanceEvent(
                    ProviderName.ZOOM,
                    "m1",
                    EventType.PARTICIPANT_LEFT,
                    at(s.leave_ms),
                    f"leave-{s.person}-{s.index}",
                    participant=who,
                    session_key=s.session_key,
                )
            )
    return events


def compute(
    meeting: GenMeeting, events: list[AttendanceEvent], reported: AttendanceReport | None = None
) -> AttendanceRecord:
    return compute_attendance(
        scheduled_start=SCHEDULED,
        invitees=[Invitee("ALICE@acme.com", "Alice"), NEVER_JOINS],
        events=events,
        reported=reported,
        company=COMPANY,
        min_attendance_seconds=MIN_ATTENDANCE_SECONDS,
        as_of=at(meeting.as_of_ms),
    )


# --- the oracle ----------------------------------------------------------------------------


def expected_window(meeting: GenMeeting) -> tuple[int, int]:
    start = meeting.started_ms if meeting.started_ms is not None else min(s.join_ms for s in meeting.sessions)
    end = meeting.ended_ms if meeting.ended_ms is not None else meeting.as_of_ms
    return start, end


def covered_ms(intervals: list[tuple[int, int | None]], window: tuple[int, int]) -> int:
    """Measure the union by cutting the window at every endpoint and keeping covered pieces."""
    low, high = window
    cuts = sorted({low, high, *(a for a, _ in intervals), *(b for _, b in intervals if b is not None)})
    cuts = [c for c in cuts if low <= c <= high]
    total = 0
    for a, b in pairwise(cuts):
        if any(j <= a and (leave is None or b <= leave) for j, leave in intervals):
            total += b - a
    return total


# --- properties ----------------------------------------------------------------------------


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[GenMeeting, list[AttendanceEvent], list[AttendanceEvent]]:
    """A meeting, its events in order, and the same events redelivered and shuffled."""
    meeting = draw(meetings())
    events = meeting_events(meeting) + participant_events(meeting)
    redelivered = draw(st.lists(st.sampled_from(events), max_size=6))
    # A redelivery that differs from the first (same event key, another second) must still
    # resolve the same way whatever arrives first.
    conflicting = [
        replace(
            e, occurred_at=e.occurred_at + timedelta(seconds=draw(st.integers(min_value=-5, max_value=5)))
        )
        for e in draw(st.lists(st.sampled_from(events), max_size=2))
    ]
    shuffled = draw(st.permutations(events + redelivered + conflicting))
    return meeting, events + conflicting, shuffled


@PROPERTY_SETTINGS
@given(deliveries(), st.booleans())
def test_any_delivery_order_and_duplicates_give_the_identical_record(
    delivery: tuple[GenMeeting, list[AttendanceEvent], list[AttendanceEvent]], reconciled: bool
) -> None:
    meeting, in_order, shuffled = delivery
    reported = AttendanceReport(None, None, ()) if reconciled else None

    assert compute(meeting, shuffled, reported) == compute(meeting, in_order, reported)


@PROPERTY_SETTINGS
@given(meetings(), st.data())
def test_attended_seconds_is_the_clipped_union_of_sessions(meeting: GenMeeting, data: st.DataObject) -> None:
    events = meeting_events(meeting) + participant_events(meeting)
    events += data.draw(st.lists(st.sampled_from(events), max_size=4))
    record = compute(meeting, data.draw(st.permutations(events)))

    window = expected_window(meeting)
    assert record.actual_start == at(window[0])
    assert record.actual_end == (None if meeting.ended_ms is None else at(meeting.ended_ms))
    for index, who in enumerate(PEOPLE):
        mine = [s for s in meeting.sessions if s.person == index]
        found = [p for p in record.participants if p.key == who.key]
        if not mine:
            # Absent, unless invited (Alice): then listed as never joined.
            assert all(p.invited and p.attended_seconds == 0 and not p.sessions for p in found)
            continue
        (got,) = found
        expected_seconds = covered_ms([(s.join_ms, s.leave_ms) for s in mine], window) // 1000
        assert got.attended_seconds == expected_seconds
        assert got.attended is (expected_seconds >= MIN_ATTENDANCE_SECONDS)
        first_join = min(s.join_ms for s in mine)
        assert got.first_join == at(first_join)
        assert got.late_seconds == max(0, first_join // 1000)
        leaves = [s.leave_ms for s in mine if s.leave_ms is not None]
        has_open = len(leaves) < len(mine)
        if has_open and meeting.ended_ms is None:
            assert got.last_leave is None
        else:
            closing = [meeting.ended_ms] if has_open and meeting.ended_ms is not None else []
            assert got.last_leave == at(max(leaves + closing))
        assert sum(1 for s in got.sessions if s.left_at is None) == (
            0 if meeting.ended_ms is not None else sum(1 for s in mine if s.leave_ms is None)
        )
    assert [p.key for p in record.participants][-1] == NEVER_JOINS.email


def reported_sessions(meeting: GenMeeting) -> list[ReportedSession]:
    rows = []
    for s in meeting.sessions:
        assert s.leave_ms is not None
        who = PEOPLE[s.person]
        email = who.email.upper() if who.email else None  # reports may capitalise; keys do not
        rows.append(
            ReportedSession(email, who.provider_participant_id, who.name, at(s.join_ms), at(s.leave_ms))
        )
    return rows


def without_sessions(record: AttendanceRecord) -> AttendanceRecord:
    return replace(record, participants=tuple(replace(p, sessions=()) for p in record.participants))


@PROPERTY_SETTINGS
@given(meetings(allow_open=False), st.booleans(), st.data())
def test_a_report_alone_gives_the_same_record_as_the_events_it_describes(
    meeting: GenMeeting, bounds_from_events: bool, data: st.DataObject
) -> None:
    rows = tuple(data.draw(st.permutations(reported_sessions(meeting))))
    if bounds_from_events:
        # The webhooks bring the meeting's start and end; the report only the sessions.
        meeting = replace(meeting, started_ms=meeting.started_ms or 0, ended_ms=meeting.ended_ms or 3_000_000)
        from_events = compute(meeting, meeting_events(meeting) + participant_events(meeting))
        from_report = compute(meeting, meeting_events(meeting), AttendanceReport(None, None, rows))
    else:
        # No meeting events: the report's own bounds, or with none, first join and last leave.
        start = None if meeting.started_ms is None else at(meeting.started_ms)
        end = None if meeting.ended_ms is None else at(meeting.ended_ms)
        from_events = compute(meeting, participant_events(meeting), AttendanceReport(start, end, ()))
        from_report = compute(meeting, [], AttendanceReport(start, end, rows))

    if all(s.keyed for s in meeting.sessions):
        assert from_report == from_events
    else:
        # Unkeyed overlapping sessions may pair differently from the report's rows; every total,
        # bound and first/last time must still agree.
        assert without_sessions(from_report) == without_sessions(from_events)


@PROPERTY_SETTINGS
@given(meetings(), st.data())
def test_an_email_missing_from_some_events_does_not_split_a_person(
    meeting: GenMeeting, data: st.DataObject
) -> None:
    """Providers omit the e-mail in some events (Zoom sends ""): the id ties them to the person."""
    events = meeting_events(meeting) + participant_events(meeting)

    def maybe_hidden(event: AttendanceEvent) -> AttendanceEvent:
        person = event.participant
        keeps_email = event.event_key.endswith("-0") and event.type is EventType.PARTICIPANT_JOINED
        if person is None or person.email is None or keeps_email or not data.draw(st.booleans()):
            return event
        return replace(
            event, participant=ParticipantIdentity(None, person.provider_participant_id, person.name)
        )

    masked = [maybe_hidden(e) for e in events]
    assert compute(meeting, data.draw(st.permutations(masked))) == compute(meeting, events)
