"""Whatever a signed Zoom event or a Zoom report says, what salesmeet makes of it stores alike on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.zoom.mapping import attendance_report
from integrations.zoom.webhook import normalise_zoom_event, parse_zoom_event
from service.domain.meeting import ProviderName
from service.storage import attendance_repo, meetings_repo
from service.storage.database import Database, create_database_engine, upgrade_database

FIXTURES = Path(__file__).parents[1] / "integrations" / "zoom_webhook_fixtures"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        database.dispose()


def _participant(data: dict[str, Any]) -> dict[str, Any]:
    participant: dict[str, Any] = data["payload"]["object"]["participant"]
    return participant


HOSTILE: dict[str, Callable[[dict[str, Any]], None]] = {
    "NUL in the name": lambda d: _participant(d).update(user_name="Da\u0000na"),
    "NUL in the topic": lambda d: d["payload"]["object"].update(topic="Acme\u0000 call"),
    "a topic over 300": lambda d: d["payload"]["object"].update(topic="T" * 400),
    "a name over 300": lambda d: _participant(d).update(user_name="N" * 400),
    "an e-mail over 320": lambda d: _participant(d).update(email="e" * 320 + "@x.example"),
    "an e-mail over 320 once lower-cased": lambda d: _participant(d).update(email="İ" * 300 + "@x.example"),
    "a host e-mail over 320": lambda d: d["payload"]["object"].update(host_email="h" * 320 + "@x.example"),
}


@pytest.mark.parametrize("change", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_participant_event_with_hostile_values_is_stored_and_read_back_unchanged(
    db: Database, change: Callable[[dict[str, Any]], None]
) -> None:
    data = json.loads((FIXTURES / "participant_joined.json").read_bytes())
    change(data)
    events = normalise_zoom_event(parse_zoom_event(json.dumps(data).encode()))

    with db.write() as conn:
        assert attendance_repo.insert_events(conn, [(e, None) for e in events]) == 1
    with db.read() as conn:
        stored = attendance_repo.load_events(conn, ProviderName.ZOOM, "85746065432")

    assert stored == events
    [event] = stored
    assert event.participant is not None and event.participant.key  # still identified
    texts = [event.meeting_title, event.host_email, event.participant.name, event.participant.email]
    assert all("\x00" not in t and len(t) <= 320 for t in texts if t is not None)


def test_a_zoom_report_with_hostile_values_is_stored_and_read_back_unchanged(db: Database) -> None:
    row = {"join_time": "2026-04-01T09:00:00Z", "leave_time": "2026-04-01T09:30:00Z", "user_id": "1"}
    rows = [
        {**row, "id": "u1", "name": "Da\u0000na " + "n" * 400, "user_email": "Dana@Acme.example"},
        {**row, "id": "u2", "name": "Bo", "user_email": "e" * 320 + "@x.example"},
        {**row, "id": "u3", "name": "Cy", "user_email": "İ" * 300 + "@x.example"},
    ]
    report = attendance_report({"uuid": "uuid-1", "start_time": row["join_time"]}, rows)
    with db.write() as conn:
        meeting_id = meetings_repo.insert_discovered(
            conn,
            meeting_id="m-1",
            provider=ProviderName.ZOOM,
            provider_meeting_id="1",
            instance="uuid-1",
            title="t",
            organizer_email="",
            start=report.sessions[0].joined_at,
            timezone="UTC",
            now=report.sessions[0].joined_at,
        )
        attendance_repo.replace_reported_sessions(conn, meeting_id, report.sessions)
    with db.read() as conn:
        stored = attendance_repo.load_reported(conn, meeting_id, reported_start=None, reported_end=None)

    assert sorted(stored.sessions, key=repr) == sorted(report.sessions, key=repr)
