"""Example tests of compute_attendance: one SPEC attendance rule per test, to the second."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from integrations.base import AttendanceReport, ReportedSession
from service.domain.attendance import (
    AttendanceRecord,
    Invitee,
    ParticipantAttendance,
    SessionSpan,
    compute_attendance,
)
from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import Classification, CompanyDomains, ProviderName

SCHEDULED = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
COMPANY = CompanyDomains.of(["acme.com"])
ALICE = ParticipantIdentity("alice@acme.com", "p-alice", "Alice")
BOB = ParticipantIdentity("bob@customer.io", "p-bob", "Bob")
PHONE = ParticipantIdentity(None, "16092", "+1 555 0100")


def at(seconds: float) -> datetime:
    """An instant `seconds` after the scheduled start."""
    return SCHEDULED + timedelta(seconds=seconds)


def meeting_event(kind: EventType, seconds: float) -> AttendanceEvent:
    return AttendanceEvent(ProviderName.ZOOM, "m1", kind, at(seconds), f"{kind}@{seconds}")


def started(seconds: float) -> AttendanceEvent:
    return meeting_event(EventType.MEETING_STARTED, seconds)


def ended(seconds: float) -> AttendanceEvent:
    return meeting_event(EventType.MEETING_ENDED, seconds)


def person_event(
    kind: EventType, who: ParticipantIdentity, seconds: float, session: str | None = None
) -> AttendanceEvent:
    return AttendanceEvent(
        ProviderName.ZOOM,
        "m1",
        kind,
        at(seconds),
        f"{kind}:{who.key}@{seconds}:{session}",
        participant=who,
        session_key=session,
    )


def joined(who: ParticipantIdentity, seconds: float, session: str | None = None) -> AttendanceEvent:
    return person_event(EventType.PARTICIPANT_JOINED, who, seconds, session)


def left(who: ParticipantIdentity, seconds: float, session: str | None = None) -> AttendanceEvent:
    return person_event(EventType.PARTICIPANT_LEFT, who, seconds, session)


def compute(
    events: Iterable[AttendanceEvent],
    *,
    invitees: Sequence[Invitee] = (),
    reported: AttendanceReport | None = None,
    as_of: datetime | None = None,
    min_attendance_seconds: int = 60,
) -> AttendanceRecord:
    return compute_attendance(
        scheduled_start=SCHEDULED,
        invitees=invitees,
        events=events,
        reported=reported,
        company=COMPANY,
        min_attendance_seconds=min_attendance_seconds,
        as_of=as_of if as_of is not None else at(86_400),
    )


def only(record: AttendanceRecord, key: str) -> ParticipantAttendance:
    (found,) = [p for p in record.participants if p.key == key]
    return found


def spans(*bounds: tuple[float, float | None]) -> tuple[SessionSpan, ...]:
    return tuple(SessionSpan(at(a), None if b is None else at(b)) for a, b in bounds)


def test_rejoin_counts_both_sessions_and_not_the_gap() -> None:
    record = compute(
        [started(0), joined(ALICE, 0), left(ALICE, 600), joined(ALICE, 900), left(ALICE, 1800), ended(3600)]
    )

    alice = only(record, ALICE.key)
    assert alice.attended_seconds == 1500
    assert alice.sessions == spans((0, 600), (900, 1800))
    assert (alice.first_join, alice.last_leave) == (at(0), at(1800))
    assert (record.actual_start, record.actual_end, record.actual_duration_seconds) == (at(0), at(3600), 3600)


def test_second_device_overlapping_is_not_double_counted() -> None:
    record = compute(
        [
            started(0),
            joined(ALICE, 0, "laptop"),
            joined(ALICE, 300, "phone"),
            left(ALICE, 400, "phone"),
            left(ALICE, 1200, "laptop"),
            ended(3600),
        ]
    )

    alice = only(record, ALICE.key)
    assert alice.attended_seconds == 1200
    # Paired by session key: the overlapping sessions are listed as they were, not merged.
    assert alice.sessions == spans((0, 1200), (300, 400))


def test_without_session_keys_each_leave_closes_the_earliest_open_join() -> None:
    record = compute(
        [started(0), joined(ALICE, 0), joined(ALICE, 300), left(ALICE, 400), left(ALICE, 1200), ended(3600)]
    )

    alice = only(record, ALICE.key)
    assert alice.sessions == spans((0, 400), (300, 1200))
    assert alice.attended_seconds == 1200  # the union, whichever join each leave closed


def test_a_keyed_leave_never_closes_a_join_with_another_key() -> None:
    record = compute(
        [started(0), joined(ALICE, 0, "a"), joined(ALICE, 100, "b"), left(ALICE, 200, "b"), ended(1000)]
    )

    # "a" has no leave of its own, so the meeting's end closes it.
    assert only(record, ALICE.key).sessions == spans((0, 1000), (100, 200))


def test_join_in_the_waiting_room_is_clipped_to_the_actual_start() -> None:
    record = compute([joined(ALICE, -300), started(120), left(ALICE, 600), ended(900)])

    alice = only(record, ALICE.key)
    assert record.actual_start == at(120)
    assert alice.sessions == spans((120, 600))
    assert alice.attended_seconds == 480
    assert alice.first_join == at(-300)  # unclipped
    assert alice.late_seconds == 0


def test_a_session_entirely_in_the_waiting_room_counts_nothing() -> None:
    record = compute(
        [joined(BOB, -300), left(BOB, -60), started(0), joined(ALICE, 0), left(ALICE, 60), ended(60)]
    )

    bob = only(record, BOB.key)
    assert (bob.attended_seconds, bob.sessions, bob.attended) == (0, (), False)


def test_session_open_at_the_end_is_closed_at_the_meetings_end() -> None:
    record = compute([started(0), joined(ALICE, 100), ended(1000)])

    alice = only(record, ALICE.key)
    assert alice.sessions == spans((100, 1000))
    assert alice.attended_seconds == 900
    assert alice.last_leave == at(1000)


def test_live_meeting_counts_open_sessions_up_to_as_of() -> None:
    record = compute([started(0), joined(ALICE, 100), joined(BOB, 50), left(BOB, 500)], as_of=at(700))

    assert (record.actual_end, record.actual_duration_seconds) == (None, None)
    alice = only(record, ALICE.key)
    assert alice.sessions == spans((100, None))
    assert alice.attended_seconds == 600
    assert alice.last_leave is None  # still in the meeting
    assert only(record, BOB.key).last_leave == at(500)


def test_live_participant_who_rejoined_has_no_last_leave_yet() -> None:
    record = compute([started(0), joined(ALICE, 0), left(ALICE, 100), joined(ALICE, 200)], as_of=at(500))

    alice = only(record, ALICE.key)
    assert alice.last_leave is None
    assert alice.sessions == spans((0, 100), (200, None))
    assert alice.attended_seconds == 400


def test_live_meeting_clips_closed_sessions_to_as_of() -> None:
    record = compute([started(0), joined(ALICE, 100), left(ALICE, 900)], as_of=at(400))

    alice = only(record, ALICE.key)
    assert alice.attended_seconds == 300
    assert alice.sessions == spans((100, 900))


def test_orphan_leave_invents_no_time_and_only_moves_last_leave() -> None:
    record = compute([started(0), left(BOB, 500), joined(ALICE, 0), left(ALICE, 1000), ended(1000)])

    bob = only(record, BOB.key)
    assert (bob.attended_seconds, bob.sessions, bob.first_join, bob.last_leave) == (0, (), None, at(500))
    assert bob.late_seconds == 0


def test_leave_before_any_join_does_not_close_a_later_join() -> None:
    record = compute([started(0), left(ALICE, 50), joined(ALICE, 100), left(ALICE, 200), ended(1000)])

    alice = only(record, ALICE.key)
    assert alice.sessions == spans((100, 200))
    assert alice.attended_seconds == 100


def test_join_and_leave_at_the_same_instant_is_a_dropped_zero_length_session() -> None:
    record = compute([started(0), joined(ALICE, 300), left(ALICE, 300), ended(1000)])

    alice = only(record, ALICE.key)
    assert (alice.sessions, alice.attended_seconds) == ((), 0)
    assert (alice.first_join, alice.last_leave) == (at(300), at(300))


def test_rejoin_at_the_same_second_as_the_leave_is_continuous() -> None:
    record = compute([started(0), joined(ALICE, 0), left(ALICE, 300), joined(ALICE, 300), ended(1000)])

    alice = only(record, ALICE.key)
    assert alice.sessions == spans((0, 300), (300, 1000))
    assert alice.attended_seconds == 1000


def test_duplicate_deliveries_count_once() -> None:
    events = [started(0), joined(ALICE, 0), left(ALICE, 600), ended(1000)]

    assert compute(events + events[1:3] + events) == compute(events)
    assert only(compute(events * 3), ALICE.key).sessions == spans((0, 600))


def test_conflicting_redeliveries_of_one_event_key_resolve_the_same_whatever_the_order() -> None:
    first = AttendanceEvent(
        ProviderName.ZOOM, "m1", EventType.PARTICIPANT_LEFT, at(600), "leave-1", participant=ALICE
    )
    retimed = AttendanceEvent(
        ProviderName.ZOOM, "m1", EventType.PARTICIPANT_LEFT, at(601), "leave-1", participant=ALICE
    )
    base = [started(0), joined(ALICE, 0), ended(1000)]

    one_way = compute([*base, first, retimed])
    assert one_way == compute([retimed, *base, first])
    assert only(one_way, ALICE.key).attended_seconds == 600


def test_unidentified_phone_participant_is_keyed_by_provider_id() -> None:
    record = compute([started(0), joined(PHONE, 10), left(PHONE, 130), ended(1000)])

    phone = only(record, "id:16092")
    assert (phone.email, phone.name, phone.classification) == (
        None,
        "+1 555 0100",
        Classification.UNIDENTIFIED,
    )
    assert (phone.invited, phone.attended_seconds, phone.attended) == (False, 120, True)


def test_invitee_who_never_joined_is_listed_last_with_zero() -> None:
    invitees = [
        Invitee("Carol@Customer.io", "Carol"),
        Invitee("alice@acme.com", "Alice A."),
        Invitee("aaron@acme.com"),
    ]
    record = compute([started(0), joined(BOB, 5), joined(ALICE, 10), ended(100)], invitees=invitees)

    assert [p.key for p in record.participants] == [BOB.key, ALICE.key, "aaron@acme.com", "carol@customer.io"]
    carol = only(record, "carol@customer.io")
    assert carol == ParticipantAttendance(
        key="carol@customer.io",
        email="carol@customer.io",
        name="Carol",
        classification=Classification.EXTERNAL,
        invited=True,
        attended_seconds=0,
        attended=False,
        first_join=None,
        last_leave=None,
        late_seconds=0,
        sessions=(),
    )
    assert only(record, ALICE.key).invited
    assert not only(record, BOB.key).invited


@pytest.mark.parametrize(("length", "attended"), [(59, False), (59.999, False), (60, True), (61, True)])
def test_attended_threshold_is_inclusive_and_floors_to_whole_seconds(length: float, attended: bool) -> None:
    record = compute([started(0), joined(ALICE, 10), left(ALICE, 10 + length), ended(1000)])

    alice = only(record, ALICE.key)
    assert alice.attended_seconds == int(length)
    assert alice.attended is attended


def test_union_is_floored_once_not_per_session() -> None:
    record = compute(
        [
            started(0),
            joined(ALICE, 0.5),
            left(ALICE, 30.0),
            joined(ALICE, 40.25),
            left(ALICE, 70.0),
            ended(1000),
        ]
    )

    # 29.5 s + 29.75 s = 59.25 s -> 59, where flooring each session would give 29 + 29 = 58.
    assert only(record, ALICE.key).attended_seconds == 59


@pytest.mark.parametrize(("join_at", "late"), [(-120, 0), (0, 0), (125.7, 125), (3600, 3600)])
def test_late_seconds_is_first_join_after_scheduled_start(join_at: float, late: int) -> None:
    record = compute([started(-300), joined(ALICE, join_at), joined(ALICE, join_at + 10), ended(7200)])

    assert only(record, ALICE.key).late_seconds == late


@pytest.mark.parametrize(
    ("email", "classification"),
    [
        ("rep@acme.com", Classification.INTERNAL),
        ("rep@eu.sales.acme.com", Classification.INTERNAL),
        ("buyer@acme.com.evil.io", Classification.EXTERNAL),
        ("buyer@notacme.com", Classification.EXTERNAL),
    ],
)
def test_classification_counts_subdomains_as_internal(email: str, classification: Classification) -> None:
    who = ParticipantIdentity(email, None)
    record = compute([started(0), joined(who, 0), ended(100)])

    assert only(record, email).classification is classification


def test_reported_sessions_override_event_sessions_for_the_people_they_name() -> None:
    events = [started(0), joined(ALICE, 0), left(ALICE, 100), joined(BOB, 50), left(BOB, 500), ended(1000)]
    report = AttendanceReport(
        actual_start=at(5),
        actual_end=at(990),
        sessions=(
            ReportedSession("Alice@ACME.com", "p-alice", "Alice", at(0), at(100)),
            ReportedSession("alice@acme.com", "p-alice", "Alice", at(200), at(900)),
            ReportedSession(None, "16092", None, at(300), at(400)),
        ),
    )
    record = compute(events, reported=report)

    # The webhook events still set the meeting's bounds.
    assert (record.actual_start, record.actual_end) == (at(0), at(1000))
    alice = only(record, ALICE.key)
    assert alice.sessions == spans((0, 100), (200, 900))
    assert (alice.attended_seconds, alice.last_leave) == (800, at(900))
    bob = only(record, BOB.key)  # only in events: keeps what they say
    assert (bob.sessions, bob.attended_seconds) == (spans((50, 500)), 450)
    phone = only(record, "id:16092")
    assert (phone.attended_seconds, phone.classification) == (100, Classification.UNIDENTIFIED)


def test_report_bounds_are_used_when_no_meeting_events_arrived() -> None:
    report = AttendanceReport(
        at(30), at(600), (ReportedSession("alice@acme.com", None, "Alice", at(0), at(700)),)
    )
    record = compute([], reported=report)

    assert (record.actual_start, record.actual_end, record.actual_duration_seconds) == (at(30), at(600), 570)
    alice = only(record, ALICE.key)
    assert alice.sessions == spans((30, 600))
    assert (alice.first_join, alice.last_leave, alice.attended_seconds) == (at(0), at(700), 570)


def test_without_meeting_events_start_is_first_join_and_a_reported_meeting_ends_at_last_leave() -> None:
    events = [joined(BOB, 40), joined(ALICE, 20), left(ALICE, 300), left(BOB, 500)]

    reconciled = compute(events, reported=AttendanceReport(None, None, ()))
    assert (reconciled.actual_start, reconciled.actual_end, reconciled.actual_duration_seconds) == (
        at(20),
        at(500),
        480,
    )

    live = compute(events, as_of=at(800))
    assert (live.actual_start, live.actual_end) == (at(20), None)


def test_meeting_bounds_take_the_earliest_start_and_the_latest_end() -> None:
    record = compute([started(10), started(5), ended(900), ended(950)])

    assert (record.actual_start, record.actual_end, record.participants) == (at(5), at(950), ())


def test_name_is_the_latest_non_empty_one_else_the_invitees() -> None:
    renamed = ParticipantIdentity("alice@acme.com", None, "Alice (Sales)")
    nameless = ParticipantIdentity("alice@acme.com", None, "  ")
    quiet = ParticipantIdentity("dave@acme.com", None)
    record = compute(
        [
            started(0),
            joined(ALICE, 0),
            left(renamed, 100),
            joined(nameless, 200),
            joined(quiet, 0),
            ended(300),
        ],
        invitees=[Invitee("dave@acme.com", "Dave")],
    )

    assert only(record, ALICE.key).name == "Alice (Sales)"
    assert only(record, "dave@acme.com").name == "Dave"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        compute_attendance(
            scheduled_start=datetime(2025, 3, 10, 15, 0),  # naive on purpose
            invitees=(),
            events=(),
            reported=None,
            company=COMPANY,
            min_attendance_seconds=60,
            as_of=at(0),
        )


def test_one_person_with_and_without_an_email_is_one_participant() -> None:
    """Zoom's webhooks and its report can disagree on whether a guest's e-mail is set."""
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    anonymous = ParticipantIdentity(None, "16778240", "Guest")
    events = [
        AttendanceEvent(ProviderName.ZOOM, "1", EventType.MEETING_STARTED, start, "s"),
        AttendanceEvent(ProviderName.ZOOM, "1", EventType.PARTICIPANT_JOINED, start, "j", anonymous),
        AttendanceEvent(ProviderName.ZOOM, "1", EventType.MEETING_ENDED, start + timedelta(minutes=30), "e"),
    ]
    report = AttendanceReport(
        None,
        None,
        (
            ReportedSession(
                "Guest@Customer.example", "16778240", "Guest", start, start + timedelta(minutes=30)
            ),
        ),
    )
    for reported in (None, report):
        record = compute_attendance(
            scheduled_start=start,
            invitees=[],
            events=events if reported is None else [*events, events[1]],
            reported=reported,
            company=CompanyDomains.of(["acme.example"]),
            min_attendance_seconds=60,
            as_of=start + timedelta(hours=1),
        )
        assert len(record.participants) == 1
    (guest,) = record.participants
    assert (guest.email, guest.classification, guest.attended_seconds) == (
        "guest@customer.example",
        Classification.EXTERNAL,
        1800,
    )
    # And from events alone, when a later event carries the e-mail the first one lacked.
    named = ParticipantIdentity("guest@customer.example", "16778240", "Guest")
    left = AttendanceEvent(
        ProviderName.ZOOM, "1", EventType.PARTICIPANT_LEFT, start + timedelta(minutes=10), "l", named
    )
    record = compute_attendance(
        scheduled_start=start,
        invitees=[],
        events=[*events, left],
        reported=None,
        company=CompanyDomains.of(["acme.example"]),
        min_attendance_seconds=60,
        as_of=start + timedelta(hours=1),
    )
    assert [(p.email, p.attended_seconds) for p in record.participants] == [("guest@customer.example", 600)]
