"""A delivery whose own data can never be applied is parked at once; only transient failures retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import CompanyDomains, ProviderName
from service.storage import inbox_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.storage.tables import webhook_deliveries
from service.usecases.record_attendance import AttendancePolicy, process_inbox_batch

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROVIDER = "trusting"
POLICY = AttendancePolicy(
    company=CompanyDomains.of(["ourco.example"]),
    min_attendance_seconds=60,
    timezone="UTC",
    reconcile_delay=timedelta(minutes=2),
)


def trusting_decoder(body: bytes) -> list[AttendanceEvent]:
    """A provider decoder that believes whatever its payload says (as a careless one would)."""
    data = json.loads(body)
    return [
        AttendanceEvent(
            provider=ProviderName(PROVIDER),
            provider_meeting_id=data["meeting"],
            type=EventType.PARTICIPANT_JOINED,
            occurred_at=datetime.fromisoformat(data["at"]),
            event_key=f"join:{data['name']}:{data['at']}",
            participant=ParticipantIdentity(email=None, provider_participant_id="p1", name=data["name"]),
        )
    ]


def _db(url: str) -> Iterator[Database]:
    engine = create_database_engine(url)
    upgrade_database(engine)
    db = Database(engine)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    yield from _db(database_url)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    yield from _db(postgres_url)


def _deliver(db: Database, *payloads: dict[str, object]) -> None:
    deliveries = [
        inbox_repo.Delivery(PROVIDER, f"key-{i}", json.dumps(p).encode(), {}) for i, p in enumerate(payloads)
    ]
    with db.write() as conn:
        inbox_repo.insert_deliveries(conn, deliveries, NOW)


def _states(db: Database) -> dict[str, tuple[str, int]]:
    c = webhook_deliveries.c
    with db.read() as conn:
        rows = conn.execute(select(c.delivery_key, c.status, c.attempts)).all()
    return {key: (status, attempts) for key, status, attempts in rows}


GOOD = {"meeting": "m1", "at": "2026-12-01T08:00:00+00:00", "name": "Dana"}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({**GOOD, "at": "0001-01-01T00:00:00+14:00"}, id="an instant that overflows in UTC"),
        pytest.param({**GOOD, "meeting": None}, id="a value a NOT NULL column refuses"),
    ],
)
def test_a_delivery_that_can_never_be_applied_is_parked_at_once(db: Database, bad: dict[str, object]) -> None:
    _deliver(db, GOOD, bad)

    assert process_inbox_batch(db, {PROVIDER: trusting_decoder}, POLICY, NOW, limit=10) == 2

    assert _states(db) == {"key-0": ("done", 0), "key-1": ("parked", 1)}


@pytest.mark.parametrize(
    "name",
    [pytest.param("Da\x00na", id="NUL in text"), pytest.param("D" * 301, id="longer than the column")],
)
def test_a_value_postgresql_refuses_parks_the_delivery_at_once(postgres_db: Database, name: str) -> None:
    _deliver(postgres_db, GOOD, {**GOOD, "name": name})

    process_inbox_batch(postgres_db, {PROVIDER: trusting_decoder}, POLICY, NOW, limit=10)

    assert _states(postgres_db) == {"key-0": ("done", 0), "key-1": ("parked", 1)}
