"""Meetings made from out-of-range events before they were refused are removed by the migration that
ships the fix, so the meetings list answers again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from service.domain.events import EventType
from service.domain.meeting import ProviderName
from service.storage import meetings_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.storage.tables import attendance_events

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BEFORE_THE_FIX = "20261201_0003"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = create_database_engine(database_url)
    upgrade_database(engine, BEFORE_THE_FIX)
    database = Database(engine)
    try:
        yield database
    finally:
        database.dispose()


def _seen(db: Database, zoom_id: str, at: datetime) -> None:
    """What the worker stored for one event of an unknown meeting, before instants were bounded."""
    with db.write() as conn:
        # Only the columns the schema had then: today's repository writes columns added later.
        conn.execute(
            insert(attendance_events).values(
                provider=ProviderName.ZOOM.value,
                provider_meeting_id=zoom_id,
                event_key=f"join:{zoom_id}",
                type=EventType.PARTICIPANT_JOINED.value,
                occurred_at=at,
                email="dana@acme.example",
                provider_meeting_instance=f"uuid-{zoom_id}",
            )
        )
        meetings_repo.insert_discovered(
            conn,
            meeting_id=f"m-{zoom_id}",
            provider=ProviderName.ZOOM,
            provider_meeting_id=zoom_id,
            instance=f"uuid-{zoom_id}",
            title="t",
            organizer_email="",
            start=at,
            timezone="UTC",
            now=NOW,
        )


def test_meetings_and_events_dated_outside_1970_to_2200_are_removed(db: Database) -> None:
    _seen(db, "1", datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC))
    _seen(db, "2", datetime(1, 1, 2, tzinfo=timezone(timedelta(hours=14))))
    _seen(db, "3", datetime(2026, 12, 1, 8, 0, tzinfo=UTC))

    upgrade_database(db.engine)

    with db.read() as conn:
        listed, _ = meetings_repo.list_meetings(conn, meetings_repo.MeetingFilter(), limit=10, after=None)
        events = conn.execute(select(attendance_events.c.provider_meeting_id)).scalars().all()
        count = conn.execute(select(func.count()).select_from(attendance_events)).scalar_one()
    assert [m.provider_meeting_id for m in listed] == ["3"]
    assert (events, count) == (["3"], 1)
