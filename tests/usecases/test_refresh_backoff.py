"""A meeting whose attendance refresh keeps failing is retried with backoff, never in a loop, and
never holds back the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import CompanyDomains, ProviderName
from service.storage import attendance_repo, meetings_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.usecases.record_attendance import AttendancePolicy, refresh_dirty_meetings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = AttendancePolicy(
    company=CompanyDomains.of(["ourco.example"]), min_attendance_seconds=60, timezone="UTC"
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        database.dispose()


def _discovered(db: Database, provider_meeting_id: str, start: datetime) -> str:
    joined = AttendanceEvent(
        provider=ProviderName.ZOOM,
        provider_meeting_id=provider_meeting_id,
        type=EventType.PARTICIPANT_JOINED,
        occurred_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        event_key=f"join:{provider_meeting_id}",
        participant=ParticipantIdentity("dana@acme.example", None),
        provider_meeting_instance=f"uuid-{provider_meeting_id}",
    )
    with db.write() as conn:
        attendance_repo.insert_events(conn, [(joined, None)])
        return meetings_repo.insert_discovered(
            conn,
            meeting_id=f"m-{provider_meeting_id}",
            provider=ProviderName.ZOOM,
            provider_meeting_id=provider_meeting_id,
            instance=f"uuid-{provider_meeting_id}",
            title="t",
            organizer_email="",
            start=start,
            timezone="UTC",
            now=T0,
        )


def _failures_logged(db: Database, seconds_after_t0: float) -> int:
    with capture_logs() as logs:
        refresh_dirty_meetings(db, POLICY, T0 + timedelta(seconds=seconds_after_t0))
    return sum(1 for entry in logs if entry["event"] == "attendance.refresh_failed")


def test_a_refresh_that_keeps_failing_is_retried_with_backoff_not_on_every_round(db: Database) -> None:
    # Stored before instants were bounded: its schedule can no longer be read, so its refresh fails.
    _discovered(db, "999", datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC))

    rounds = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14]
    failures = {at: _failures_logged(db, at) for at in rounds}

    # After each failure the next try waits 2 s, then 4 s, then 8 s (worker rounds come far more often).
    assert [at for at, n in failures.items() if n] == [0, 2, 6, 14]
    assert all(n <= 1 for n in failures.values())


def test_a_failing_meeting_does_not_hold_back_a_healthy_one(db: Database) -> None:
    _discovered(db, "999", datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC))
    refresh_dirty_meetings(db, POLICY, T0)  # the broken one fails and waits

    healthy = _discovered(db, "123", datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    assert refresh_dirty_meetings(db, POLICY, T0 + timedelta(seconds=1)) == 1
    with db.read() as conn:
        meeting = meetings_repo.get_meeting(conn, healthy)
    assert meeting is not None and meeting.actual_start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
