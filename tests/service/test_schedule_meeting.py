"""The scheduling use case with test-double providers: routing, explicit fallback, and what is recorded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from integrations.base import (
    AttendanceReport,
    MeetingRequest,
    ProviderError,
    ProviderHealth,
    ProviderMeeting,
    ProviderUnavailable,
)
from service.domain.meeting import (
    CompanyDomains,
    ExternalRef,
    MeetingKind,
    MeetingStatus,
    Person,
    ProviderName,
    Schedule,
)
from service.domain.routing import RouteCondition, RouteRule, RoutingTable
from service.errors import Conflict, ProviderFailed, ProviderNotConfigured
from service.storage import meetings_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.storage.tables import meetings
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.schedule_meeting import AttendeeInput, MeetingChanges, MeetingInput, MeetingScheduler

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass
class FakeProvider:
    """A provider that records what it was asked and fails when told to."""

    name: ProviderName
    fail_with: ProviderError | None = None
    created: list[MeetingRequest] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    cancelled_with: list[object] = field(default_factory=list)
    while_creating: Callable[[], None] | None = None
    while_updating: Callable[[], None] | None = None

    def create_meeting(self, request: MeetingRequest) -> ProviderMeeting:
        if self.fail_with is not None:
            raise self.fail_with
        if self.while_creating is not None:
            self.while_creating()
        self.created.append(request)
        meeting_id = f"{self.name.value}-{len(self.created)}"
        return ProviderMeeting(
            meeting_id, f"https://{self.name.value}.example/j/1", extra={"where": meeting_id}
        )

    def update_meeting(self, provider_meeting_id: str, request: MeetingRequest) -> ProviderMeeting:
        if self.while_updating is not None:
            self.while_updating()
        return ProviderMeeting(provider_meeting_id, f"https://{self.name.value}.example/j/1")

    def cancel_meeting(self, provider_meeting_id: str, extra: object = None) -> None:
        self.cancelled.append(provider_meeting_id)
        self.cancelled_with.append(extra)

    def fetch_attendance(self, provider_meeting_id: str, instance: str | None = None) -> AttendanceReport:
        return AttendanceReport(None, None, ())

    def check_health(self) -> ProviderHealth:
        return ProviderHealth(True)


ROUTING = RoutingTable(
    rules=(
        RouteRule(RouteCondition(kind=MeetingKind.CUSTOMER), ProviderName.TEAMS, fallback=ProviderName.ZOOM),
        RouteRule(RouteCondition(organizer_domains=("emea.acme.example",)), ProviderName.MEET),
    ),
    default=ProviderName.ZOOM,
)


@pytest.fixture
def db(database_url: str) -> Database:
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    yield Database(engine)
    engine.dispose()


def scheduler(db: Database, *providers: FakeProvider) -> MeetingScheduler:
    registry = ProviderRegistry({p.name: (p, 4) for p in providers})
    return MeetingScheduler(db, registry, ROUTING, CompanyDomains.of(["acme.example"]), lambda: NOW)


def draft(
    organizer: str = "ann@acme.example", attendees: tuple[str, ...] = ("bob@customer.example",)
) -> MeetingInput:
    return MeetingInput(
        title="Call",
        agenda=None,
        kind=None,
        schedule=Schedule(datetime(2026, 12, 1, 9, tzinfo=UTC), 30, "Europe/Berlin"),
        organizer=Person(organizer),
        attendees=tuple(AttendeeInput(a, None, True) for a in attendees),
        external_ref=ExternalRef("crm", organizer + "/".join(attendees)),
        provider=None,
    )


def test_routing_rules_choose_the_provider(db: Database) -> None:
    zoom, teams, meet = (
        FakeProvider(ProviderName.ZOOM),
        FakeProvider(ProviderName.TEAMS),
        FakeProvider(ProviderName.MEET),
    )
    s = scheduler(db, zoom, teams, meet)
    assert s.create(draft())[0].provider is ProviderName.TEAMS  # customer meeting
    assert s.create(draft("eve@emea.acme.example", ()))[0].provider is ProviderName.MEET
    assert s.create(draft(attendees=("carl@acme.example",)))[0].provider is ProviderName.ZOOM  # default


def test_an_explicit_fallback_switches_and_records_why(db: Database) -> None:
    zoom = FakeProvider(ProviderName.ZOOM)
    teams = FakeProvider(
        ProviderName.TEAMS, fail_with=ProviderUnavailable(ProviderName.TEAMS, "503 from Graph")
    )
    meeting, created = scheduler(db, zoom, teams).create(draft())
    assert created and meeting.provider is ProviderName.ZOOM
    assert [(a.provider, a.error_code) for a in meeting.attempts] == [
        (ProviderName.TEAMS, "provider_unavailable")
    ]
    assert "503 from Graph" in meeting.attempts[0].message
    assert len(zoom.created) == 1


def test_without_a_fallback_a_failure_is_reported_never_switched(db: Database) -> None:
    zoom = FakeProvider(ProviderName.ZOOM)
    meet = FakeProvider(ProviderName.MEET, fail_with=ProviderUnavailable(ProviderName.MEET, "down"))
    with pytest.raises(ProviderFailed) as failure:
        scheduler(db, zoom, meet).create(draft("eve@emea.acme.example", ()))
    assert failure.value.code == "provider_unavailable"
    assert zoom.created == []


def test_a_rule_naming_a_provider_that_is_not_running_is_a_clear_error(db: Database) -> None:
    with pytest.raises(ProviderNotConfigured):
        scheduler(db, FakeProvider(ProviderName.ZOOM)).create(draft("eve@emea.acme.example", ()))


def test_the_provider_receives_the_utc_instant_and_every_attendee(db: Database) -> None:
    zoom = FakeProvider(ProviderName.ZOOM)
    scheduler(db, zoom).create(draft(attendees=("carl@acme.example", "Dora@Acme.Example")))
    request = zoom.created[0]
    assert request.start == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert [p.email for p in request.attendees] == ["carl@acme.example", "dora@acme.example"]


def test_a_create_whose_claim_was_taken_over_takes_its_meeting_back(db: Database) -> None:
    """So slow that a retry judged it dead and took its claim: its provider meeting is no orphan."""
    zoom = FakeProvider(ProviderName.ZOOM)

    def claim_taken_over() -> None:
        with db.write() as conn:
            conn.execute(delete(meetings).where(meetings.c.status == meetings_repo.CREATING))

    zoom.while_creating = claim_taken_over
    with pytest.raises(Conflict):
        scheduler(db, zoom).create(draft(attendees=("carl@acme.example",)))
    assert zoom.cancelled == ["zoom-1"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(meetings)).scalar_one() == 0


def test_another_replica_changing_the_meeting_gets_a_409_not_a_wait(db: Database) -> None:
    """Two replicas (two schedulers): while one is changing a meeting on the provider, the other is
    told to retry, and no database lock or connection is held meanwhile."""
    zoom = FakeProvider(ProviderName.ZOOM)
    replica_a, replica_b = scheduler(db, zoom), scheduler(db, zoom)
    meeting, _ = replica_a.create(draft(attendees=("carl@acme.example",)))
    inside, release = threading.Event(), threading.Event()

    def slow_provider() -> None:
        inside.set()
        assert release.wait(10)

    zoom.while_updating = slow_provider
    first = threading.Thread(target=replica_a.update, args=(meeting.id, MeetingChanges(title="A")))
    first.start()
    assert inside.wait(10)
    zoom.while_updating = None
    with pytest.raises(Conflict):
        replica_b.update(meeting.id, MeetingChanges(title="B"))
    with db.write() as conn:  # the meeting's row is not locked while the provider works
        meetings_repo.mark_dirty(conn, meeting.id, datetime.now(UTC))
    release.set()
    first.join(10)
    assert replica_b.update(meeting.id, MeetingChanges(title="B")).title == "B"


def test_a_meeting_that_started_while_it_was_being_changed_is_not_overwritten(db: Database) -> None:
    zoom = FakeProvider(ProviderName.ZOOM)
    s = scheduler(db, zoom)
    meeting, _ = s.create(draft(attendees=("carl@acme.example",)))

    def the_host_starts_it() -> None:  # what the worker records from meeting.started meanwhile
        with db.write() as conn:
            meetings_repo.store_refresh(
                conn,
                meeting.id,
                actual_start=meeting.schedule.start,
                actual_end=None,
                status=MeetingStatus.STARTED,
                now=datetime.now(UTC),
            )

    zoom.while_updating = the_host_starts_it
    with pytest.raises(Conflict):
        s.update(meeting.id, MeetingChanges(title="Renamed"))
    after = s.get(meeting.id)
    assert (after.status.value, after.title) == ("started", "Call")
    with db.read() as conn:  # and the lease is released for the next change
        owner = conn.execute(select(meetings.c.change_owner).where(meetings.c.id == meeting.id)).scalar_one()
    assert owner is None


def test_a_cancel_tells_the_provider_what_its_create_returned(db: Database) -> None:
    """Meet needs the stored extra (whose calendar holds the event) to cancel after a restart."""
    zoom = FakeProvider(ProviderName.ZOOM)
    meeting, _ = scheduler(db, zoom).create(draft(attendees=("carl@acme.example",)))
    scheduler(db, zoom).cancel(meeting.id)  # a fresh scheduler: only the database remembers
    assert zoom.cancelled_with == [{"where": meeting.provider_meeting_id}]
