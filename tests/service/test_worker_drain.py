"""The drain loop ends, and keeps other meetings current, while one meeting cannot be refreshed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from service.bootstrap import Runtime, build_runtime
from service.config import parse_config
from service.settings import Settings
from service.storage import inbox_repo
from service.storage.database import upgrade_database
from service.storage.tables import attendance_events, meetings
from tests.helpers_signing import OfflineZoom, zoom_delivery
from tests.support import sandbox_config

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    built = build_runtime(parse_config(sandbox_config()), Settings(database_url=database_url))
    upgrade_database(built.db.engine)
    try:
        yield built
    finally:
        built.close()


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
