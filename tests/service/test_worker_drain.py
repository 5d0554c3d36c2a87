"""The drain loop ends, and keeps other meetings current, while one meeting cannot be refreshed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from service.bootstrap import Runtime
from service.domain.meeting import MeetingKind, MeetingOrigin, Person, ProviderName, Schedule
from service.storage import inbox_repo, meetings_repo
from service.storage.tables import attendance_events, meetings
from tests.helpers_signing import OfflineZoom, zoom_delivery

NOW = datetime.now(UTC).replace(microsecond=0)


def test_a_meeting_that_fails_to_refresh_holds_back_nothing(runtime: Runtime) -> None:
    zoom = OfflineZoom()
    broken = zoom.internal_sync("Broken", NOW - timedelta(hours=3))
    fine = zoom.internal_sync("Fine", NOW - timedelta(hours=2))
    with runtime.db.write() as conn:
        inbox_repo.insert_deliveries(conn, [zoom_delivery(b) for b in broken.bodies + fine.bodies], NOW)
    runtime.worker.drain()
    # Corrupt one stored event of the first meeting: its refresh now raises on every try.
    with runtime.db.write() as conn:
        conn.execute(
            update(attendance_events)
            .where(attendance_events.c.provider_meeting_id == str(broken.meeting_id))
            .values(type="bogus")
        )
        conn.execute(update(meetings).values(attendance_dirty=True))

    finished = threading.Event()
    thread = threading.Thread(target=lambda: (runtime.worker.drain(), finished.set()), daemon=True)
    thread.start()
    assert finished.wait(20), "drain() must end even while one meeting keeps failing"

    with runtime.db.read() as conn:
        dirty = dict(conn.execute(select(meetings.c.provider_meeting_id, meetings.c.attendance_dirty)).all())
    assert dirty == {str(broken.meeting_id): True, str(fine.meeting_id): False}


def test_a_meeting_made_from_webhooks_that_beat_its_create_folds_into_the_scheduled_one(
    runtime: Runtime,
) -> None:
    """Two replicas: the worker made a meeting of an unknown Zoom id just as the create recorded it."""
    played = OfflineZoom().internal_sync("Standup", NOW - timedelta(hours=2))
    pmid = str(played.meeting_id)
    with runtime.db.write() as conn:
        scheduled = "00000000-0000-4000-8000-00000000000a"
        meetings_repo.insert_claim(
            conn,
            meeting_id=scheduled,
            origin=MeetingOrigin.API,
            title="Standup",
            agenda=None,
            kind=MeetingKind.INTERNAL,
            kind_derived=True,
            schedule=Schedule(NOW - timedelta(hours=2), 15, "UTC"),
            organizer=Person("host@acme.example"),
            attendees=(),
            external_ref=None,
            now=NOW,
        )
        meetings_repo.record_provider_result(
            conn,
            scheduled,
            provider=ProviderName.ZOOM,
            provider_meeting_id=pmid,
            join_url="https://j",
            start_url=None,
            extra={},
            attempts=(),
            now=NOW,
        )
        # What the other replica's worker committed a moment later, for the same Zoom meeting.
        meetings_repo.insert_discovered(
            conn,
            meeting_id="00000000-0000-4000-8000-00000000000b",
            provider=ProviderName.ZOOM,
            provider_meeting_id=pmid,
            instance="some-uuid",
            title="Standup",
            organizer_email="",
            start=NOW,
            timezone="UTC",
            now=NOW,
        )
        inbox_repo.insert_deliveries(conn, [zoom_delivery(b) for b in played.bodies], NOW)
    runtime.worker.drain()
    with runtime.db.read() as conn:
        rows = conn.execute(select(meetings.c.id, meetings.c.status)).all()
    assert [(r.id, r.status) for r in rows] == [(scheduled, "ended")]
