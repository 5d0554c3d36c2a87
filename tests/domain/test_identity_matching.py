"""compute_attendance when the provider hides who someone is: the matching order, guests whose id
changes on every rejoin, waiting rooms, and meetings whose end was never told."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from service.domain.attendance import (
    AttendanceRecord,
    IdentifiedBy,
    Invitee,
    ParticipantAttendance,
    compute_attendance,
    normalised_name,
)
from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import Classification, CompanyDomains, ProviderName
from service.domain.reports import AttendanceReport, ReportedSession

SCHEDULED = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
COMPANY = CompanyDomains.of(["acme.com"])
HOST = ParticipantIdentity("host@acme.com", "u_host", "Hanna Host")
INVITEES = (
    Invitee("host@acme.com", "Hanna Host"),
    Invitee("jose@customer.io", "José Álvarez"),
    Invitee("bob@customer.io", "Bob Buyer"),
)
INSTANCE = "inst-1"


def at(seconds: float) -> datetime:
    return SCHEDULED + timedelta(seconds=seconds)


def event(
    kind: EventType, seconds: float, who: ParticipantIdentity | None = None, instance: str = INSTANCE
) -> AttendanceEvent:
    key = f"{kind}:{who.key if who else ''}:{seconds}:{instance}"
    return AttendanceEvent(
        ProviderName.ZOOM, "m1", kind, at(seconds), key, participant=who, provider_meeting_instance=instance
    )


def stay(
    who: ParticipantIdentity, start: float, end: float, instance: str = INSTANCE
) -> list[AttendanceEvent]:
    return [
        event(EventType.PARTICIPANT_JOINED, start, who, instance),
        event(EventType.PARTICIPANT_LEFT, end, who, instance),
    ]


def guest(
    user_id: str, name: str, registrant: str | None = None, instance: str = INSTANCE
) -> ParticipantIdentity:
    """A participant whose e-mail Zoom hides: a per-meeting id that is new on every rejoin."""
    return ParticipantIdentity(None, f"{instance}#{user_id}", name, registrant)


def meeting(*events: Iterable[AttendanceEvent], end: float = 1800) -> list[AttendanceEvent]:
    return [
        event(EventType.MEETING_STARTED, 0),
        *stay(HOST, 0, end),
        *(e for group in events for e in group),
        event(EventType.MEETING_ENDED, end),
    ]


def compute(
    events: Iterable[AttendanceEvent],
    *,
    invitees: Sequence[Invitee] = INVITEES,
    registrations: Mapping[str, str] | None = None,
    reported: AttendanceReport | None = None,
    as_of: datetime | None = None,
    closes_at: datetime | None = None,
) -> AttendanceRecord:
    return compute_attendance(
        scheduled_start=SCHEDULED,
        invitees=invitees,
        events=events,
        reported=reported,
        company=COMPANY,
        min_attendance_seconds=60,
        as_of=as_of or at(10_000),
        registrations=registrations,
        closes_at=closes_at,
    )


def by_key(record: AttendanceRecord) -> dict[str, ParticipantAttendance]:
    return {p.key: p for p in record.participants}


def test_names_compare_without_case_accents_or_spacing() -> None:
    assert normalised_name("  JOSÉ   álvarez ") == normalised_name("jose alvarez") == "jose alvarez"
    assert normalised_name(None) == normalised_name("   ") == ""


def test_a_registrant_id_maps_back_to_the_invitee() -> None:
    record = compute(
        meeting(stay(guest("1", "J.", "reg-j"), 60, 600)), registrations={"reg-j": "Jose@Customer.io"}
    )
    jose = by_key(record)["jose@customer.io"]
    assert (jose.attended_seconds, jose.identified_by, jose.invited) == (540, IdentifiedBy.REGISTRANT, True)
    assert jose.classification is Classification.EXTERNAL


def test_an_unknown_registrant_id_does_not_identify() -> None:
    record = compute(
        meeting(stay(guest("1", "Someone", "reg-x"), 60, 600)), registrations={"reg-j": "jose@customer.io"}
    )
    stranger = next(p for p in record.participants if p.email is None)
    assert stranger.identified_by is IdentifiedBy.NONE
    assert stranger.classification is Classification.UNIDENTIFIED


def test_a_participant_id_seen_with_an_email_identifies_its_other_sightings_as_account() -> None:
    signed_in = ParticipantIdentity("bob@customer.io", "acct-bob", "Bob")
    hidden = ParticipantIdentity(None, "acct-bob", "Bob")
    record = compute(meeting(stay(signed_in, 60, 120), stay(hidden, 300, 600)))
    bob = by_key(record)["bob@customer.io"]
    assert bob.attended_seconds == 60 + 300
    assert bob.identified_by is IdentifiedBy.EMAIL  # the strongest of its sightings


def test_account_alone_when_the_email_came_only_in_the_report() -> None:
    hidden = ParticipantIdentity(None, "acct-bob", "B")
    report = AttendanceReport(
        at(0), at(1800), (ReportedSession("bob@customer.io", "acct-bob", "B", at(60), at(120)),)
    )
    record = compute(meeting(stay(hidden, 300, 600)), reported=report)
    bob = by_key(record)["bob@customer.io"]
    # The report names bob, so its rows replace the webhook sessions.
    assert bob.attended_seconds == 60 and bob.identified_by is IdentifiedBy.EMAIL


def test_display_name_matches_an_invitee_case_and_accent_insensitively() -> None:
    record = compute(meeting(stay(guest("1", "jose ALVAREZ"), 60, 600)))
    jose = by_key(record)["jose@customer.io"]
    assert (jose.attended_seconds, jose.identified_by, jose.invited) == (540, IdentifiedBy.NAME, True)
    assert jose.name == "jose ALVAREZ"


def test_a_guest_whose_id_changes_on_every_rejoin_is_one_person() -> None:
    record = compute(
        meeting(
            stay(guest("16778240", "Walk-in Wendy"), 60, 300),
            stay(guest("16779264", "walk-in wendy"), 600, 900),
        )
    )
    guests = [p for p in record.participants if p.email is None]
    assert len(guests) == 1
    assert guests[0].attended_seconds == 240 + 300
    assert guests[0].identified_by is IdentifiedBy.NONE
    assert guests[0].classification is Classification.UNIDENTIFIED


def test_the_same_guest_name_in_two_instances_stays_two_people() -> None:
    events = meeting(stay(guest("1", "Walk-in Wendy"), 60, 300))
    events += [
        event(EventType.MEETING_STARTED, 5000, instance="inst-2"),
        *stay(guest("1", "Walk-in Wendy", instance="inst-2"), 5000, 5100, "inst-2"),
        event(EventType.MEETING_ENDED, 5200, instance="inst-2"),
    ]
    guests = [p for p in compute(events).participants if p.email is None]
    assert sorted(p.attended_seconds for p in guests) == [100, 240]


def test_two_invitees_are_never_merged_even_under_one_display_name() -> None:
    twins = (*INVITEES, Invitee("ann.one@customer.io", "Ann Lee"), Invitee("ann.two@customer.io", "Ann Lee"))
    ann_one = ParticipantIdentity("ann.one@customer.io", "a1", "Ann Lee")
    ann_two = ParticipantIdentity("ann.two@customer.io", "a2", "Ann Lee")
    hidden_ann = guest("7", "Ann Lee")
    record = compute(
        meeting(stay(ann_one, 60, 120), stay(ann_two, 300, 600), stay(hidden_ann, 700, 800)), invitees=twins
    )
    people = by_key(record)
    assert people["ann.one@customer.io"].attended_seconds == 60
    assert people["ann.two@customer.io"].attended_seconds == 300
    # The name belongs to two invitees, so it tells neither apart: the hidden Ann stays a guest.
    stranger = next(p for p in record.participants if p.email is None)
    assert stranger.attended_seconds == 100 and stranger.identified_by is IdentifiedBy.NONE


def test_an_email_beats_a_display_name_that_names_another_invitee() -> None:
    impostor = ParticipantIdentity("bob@customer.io", "b1", "José Álvarez")
    people = by_key(compute(meeting(stay(impostor, 60, 600))))
    assert people["bob@customer.io"].attended_seconds == 540
    assert people["jose@customer.io"].attended_seconds == 0  # never joined; not merged


def test_guest_fragments_from_webhooks_and_the_report_are_not_counted_twice() -> None:
    fragments = [stay(guest("1", "Walk-in Wendy"), 60, 300), stay(guest("2", "Walk-in Wendy"), 600, 900)]
    report = AttendanceReport(
        at(0),
        at(1800),
        (
            ReportedSession("host@acme.com", "u_host", "Hanna Host", at(0), at(1800)),
            ReportedSession(None, f"{INSTANCE}#1", "Walk-in Wendy", at(60), at(300), instance=INSTANCE),
            ReportedSession(None, f"{INSTANCE}#2", "Walk-in Wendy", at(600), at(900), instance=INSTANCE),
        ),
    )
    record = compute(meeting(*fragments), reported=report)
    guests = [p for p in record.participants if p.email is None]
    assert [p.attended_seconds for p in guests] == [540]


def test_waiting_room_time_is_its_own_figure_not_attendance() -> None:
    bob = ParticipantIdentity(None, f"{INSTANCE}#5", "Bob Buyer")
    waited = [event(EventType.WAITING_ROOM_JOINED, 30, bob), event(EventType.WAITING_ROOM_LEFT, 90, bob)]
    record = compute(meeting(waited, stay(bob, 90, 600)))
    person = by_key(record)["bob@customer.io"]
    assert (person.attended_seconds, person.waiting_seconds, person.first_join) == (510, 60, at(90))


def test_a_wait_without_its_end_ends_when_the_person_is_admitted() -> None:
    bob = ParticipantIdentity("bob@customer.io", None, "Bob")
    record = compute(meeting([event(EventType.WAITING_ROOM_JOINED, 30, bob)], stay(bob, 150, 600)))
    assert by_key(record)["bob@customer.io"].waiting_seconds == 120


def test_report_waiting_rows_are_not_attendance() -> None:
    report = AttendanceReport(
        at(0),
        at(1800),
        (
            ReportedSession("host@acme.com", "u_host", "Hanna Host", at(0), at(1800)),
            ReportedSession(
                None, "i#9", "Bob Buyer", at(10), at(70), in_waiting_room=True, instance=INSTANCE
            ),
            ReportedSession(None, "i#9", "Bob Buyer", at(70), at(670), instance=INSTANCE),
        ),
    )
    record = compute(meeting(), reported=report)
    bob = by_key(record)["bob@customer.io"]
    assert (bob.attended_seconds, bob.waiting_seconds, bob.first_join) == (600, 60, at(70))
    assert record.actual_start == at(0)


def test_someone_never_admitted_shows_only_waiting_time() -> None:
    bob = ParticipantIdentity(None, f"{INSTANCE}#5", "Bob Buyer")
    waited = [event(EventType.WAITING_ROOM_JOINED, 30, bob), event(EventType.WAITING_ROOM_LEFT, 330, bob)]
    person = by_key(compute(meeting(waited)))["bob@customer.io"]
    assert (person.attended, person.attended_seconds, person.waiting_seconds) == (False, 0, 300)


def test_a_finished_meeting_whose_end_was_lost_closes_open_sessions_at_closes_at() -> None:
    events = [event(EventType.MEETING_STARTED, 0), event(EventType.PARTICIPANT_JOINED, 0, HOST)]
    no_report = AttendanceReport(None, None, ())
    record = compute(events, reported=no_report, closes_at=at(1800), as_of=at(6 * 3600))
    assert record.actual_end == at(1800)
    assert by_key(record)["host@acme.com"].attended_seconds == 1800


def test_closes_at_does_not_stretch_a_meeting_everyone_left() -> None:
    events = [event(EventType.MEETING_STARTED, 0), *stay(HOST, 0, 600)]
    record = compute(events, reported=AttendanceReport(None, None, ()), closes_at=at(1800))
    assert record.actual_end == at(600)
