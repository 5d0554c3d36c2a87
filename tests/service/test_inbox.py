"""The webhook inbox on SQLite and PostgreSQL: stored once, durable on answer, processed with retries.

Everything runs on the real database from the real migrations; the only stand-ins are decoders
passed to `process_inbox_batch` (its port) that fail on purpose.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from integrations.zoom.webhook_check import decode_zoom_delivery
from service.bootstrap import Runtime
from service.cli import app as cli_app
from service.config.loader import parse_config
from service.domain.events import AttendanceEvent
from service.storage import attendance_repo, inbox_repo, leases
from service.storage.database import Database
from service.storage.inbox_repo import Delivery
from service.storage.tables import attendance_events, meetings, provider_status, webhook_deliveries
from service.usecases.record_attendance import AttendancePolicy, process_inbox_batch
from tests.helpers_signing import OfflineZoom, PlayedMeeting, minutes_ago, signed_headers, zoom_delivery
from tests.support import auth, running_service, sandbox_config
from webhooks.inbox import InboxWriter

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(runtime: Runtime) -> Database:
    return runtime.db


def policy(max_attempts: int = 8) -> AttendancePolicy:
    config = parse_config(sandbox_config())
    return AttendancePolicy(
        company=config.company_domains(),
        min_attendance_seconds=config.company.min_attendance_seconds,
        timezone=config.company.timezone,
        reconcile_delay=timedelta(hours=1),
        max_attempts=max_attempts,
    )


def raw_delivery(n: int) -> Delivery:
    return Delivery("zoom", f"sha256:test-{n}", f'{{"n":{n}}}'.encode(), {"x-zm-trackingid": str(n)})


def delivery_rows(db: Database, **where: Any) -> list[Any]:
    c = webhook_deliveries.c
    with db.read() as conn:
        query = select(webhook_deliveries).order_by(c.id)
        for column, value in where.items():
            query = query.where(c[column] == value)
        return list(conn.execute(query).all())


def store_now(db: Database, deliveries: list[Delivery], now: datetime = NOW) -> None:
    with db.write() as conn:
        inbox_repo.insert_deliveries(conn, deliveries, now)


# --- intake: InboxWriter ---------------------------------------------------------------------


async def test_a_delivery_sent_again_is_stored_once(db: Database) -> None:
    writer = InboxWriter(db)
    await writer.start()
    try:
        again = [await writer.store(raw_delivery(1)) for _ in range(3)]
        storm = await asyncio.gather(*(writer.store(raw_delivery(2)) for _ in range(50)))
    finally:
        await writer.stop()
    assert again == [True, False, False]
    # One of the fifty identical concurrent copies is the new one; the rest are duplicates.
    assert sorted(storm) == [False] * 49 + [True]
    assert [r.delivery_key for r in delivery_rows(db)] == ["sha256:test-1", "sha256:test-2"]
    assert {r.status for r in delivery_rows(db)} == {"pending"}


async def test_a_batch_mixing_a_stored_key_and_new_ones_answers_each_and_stores_the_new(db: Database) -> None:
    writer = InboxWriter(db)
    await writer.start()
    try:
        first = await writer.store(raw_delivery(1))
        # One batch: the stored key again, between two new ones (the writer is idle, so they share it).
        mixed = await asyncio.gather(*(writer.store(raw_delivery(n)) for n in (3, 1, 2)))
    finally:
        await writer.stop()
    assert first is True
    assert mixed == [True, False, True]
    assert sorted(r.delivery_key for r in delivery_rows(db)) == [
        "sha256:test-1",
        "sha256:test-2",
        "sha256:test-3",
    ]


async def test_intake_stores_body_and_headers_byte_for_byte(db: Database) -> None:
    # What array and JSON escaping would touch: quotes, backslashes, braces, commas, NUL, non-UTF-8.
    body = b'{"topic":"a \\"quoted\\" {x, y}","raw":"\\u0000"}\x00\xff\xfe'
    headers = {"x-zm-trackingid": 'v"1\\,{2}', "x-note": "caf\u00e9 NULL"}
    writer = InboxWriter(db)
    await writer.start()
    try:
        stored = await asyncio.gather(
            writer.store(Delivery("zoom", "sha256:exact", body, headers)),
            writer.store(raw_delivery(1)),
        )
    finally:
        await writer.stop()
    assert stored == [True, True]
    (row,) = delivery_rows(db, delivery_key="sha256:exact")
    assert bytes(row.body) == body
    assert row.headers == headers


async def test_concurrent_different_deliveries_are_all_committed_in_few_transactions(db: Database) -> None:
    commits: list[datetime] = []

    def counting_clock() -> datetime:  # called once per committed batch
        commits.append(NOW)
        return NOW

    writer = InboxWriter(db, clock=counting_clock)
    await writer.start()
    try:
        answers = await asyncio.gather(*(writer.store(raw_delivery(n)) for n in range(400)))
    finally:
        await writer.stop()
    assert answers == [True] * 400
    assert len(delivery_rows(db)) == 400
    assert len(commits) < 50, "group commit: concurrent deliveries share transactions"


async def test_stop_writes_everything_accepted_before_it_returns(db: Database) -> None:
    writer = InboxWriter(db)
    await writer.start()
    pending = [asyncio.create_task(writer.store(raw_delivery(n))) for n in range(200)]
    await asyncio.sleep(0)  # let every store() enqueue its delivery
    await writer.stop()
    assert all(task.done() and task.result() is True for task in pending)
    assert len(delivery_rows(db)) == 200
    with pytest.raises(RuntimeError, match="not running"):
        await writer.store(raw_delivery(999))
    await writer.start()  # and a stopped writer can be started again (a second app lifespan)
    try:
        assert await writer.store(raw_delivery(999)) is True
    finally:
        await writer.stop()


async def test_a_failed_commit_fails_every_caller_of_its_batch(db: Database) -> None:
    writer = InboxWriter(db)
    await writer.start()
    try:
        with db.write() as conn:  # the table is gone: the batch's transaction cannot commit
            conn.execute(text("DROP TABLE webhook_deliveries"))
        outcomes = await asyncio.gather(
            *(writer.store(raw_delivery(n)) for n in range(20)), return_exceptions=True
        )
    finally:
        await writer.stop()
    # Every sender is answered with an error (a 5xx to the provider, which retries), none with "stored".
    assert all(isinstance(o, Exception) for o in outcomes)


async def test_last_webhook_time_is_written_at_most_once_a_second(db: Database) -> None:
    times = iter([NOW, NOW + timedelta(milliseconds=400), NOW + timedelta(milliseconds=1500)])
    writer = InboxWriter(db, clock=lambda: next(times))
    await writer.start()
    seen = []
    try:
        for n in range(3):
            await writer.store(raw_delivery(n))
            with db.read() as conn:
                seen.append(conn.execute(select(provider_status.c.last_webhook_at)).scalar_one())
    finally:
        await writer.stop()
    assert seen == [NOW, NOW, NOW + timedelta(milliseconds=1500)]


# --- processing ------------------------------------------------------------------------------


def test_an_undecodable_delivery_is_parked_and_the_others_go_through(db: Database) -> None:
    played = OfflineZoom().internal_sync("Standup", NOW - timedelta(hours=1))
    good = [zoom_delivery(body) for body in played.bodies]
    bad = Delivery("zoom", "sha256:bad", b'{"event": "meeting.participant_joined"', {})
    store_now(db, [good[0], bad, *good[1:]])

    handled = process_inbox_batch(db, {"zoom": decode_zoom_delivery}, policy(), NOW, limit=100)

    assert handled == len(good) + 1
    (parked,) = delivery_rows(db, status="parked")
    assert parked.delivery_key == "sha256:bad"
    assert parked.attempts == 1
    assert parked.last_error.startswith("invalid_payload:")
    assert len(delivery_rows(db, status="done")) == len(good)
    assert event_count(db) == len(good)
    # Parked is final: later rounds do not pick it up again.
    assert (
        process_inbox_batch(db, {"zoom": decode_zoom_delivery}, policy(), NOW + timedelta(days=1), 100) == 0
    )


class FailingDecoder:
    """Raises a transient error for its first `failures` calls, then decodes for real."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, body: bytes) -> list[AttendanceEvent]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("database of the provider fell over")
        return decode_zoom_delivery(body)


def test_a_transient_failure_is_retried_after_a_backoff(db: Database) -> None:
    body = OfflineZoom().internal_sync("Standup", NOW - timedelta(hours=1)).bodies[0]
    store_now(db, [zoom_delivery(body)])
    decoder = FailingDecoder(failures=1)

    assert process_inbox_batch(db, {"zoom": decoder}, policy(), NOW, limit=10) == 1
    (row,) = delivery_rows(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == NOW + timedelta(seconds=2)
    assert "RuntimeError" in row.last_error
    assert event_count(db) == 0

    # Not due yet: nothing is claimed before the backoff has passed.
    assert process_inbox_batch(db, {"zoom": decoder}, policy(), NOW + timedelta(seconds=1), 10) == 0
    later = NOW + timedelta(seconds=2)
    assert process_inbox_batch(db, {"zoom": decoder}, policy(), later, limit=10) == 1
    (row,) = delivery_rows(db)
    assert (row.status, row.processed_at, row.last_error) == ("done", later, None)
    assert event_count(db) == 1


def test_a_delivery_that_keeps_failing_backs_off_longer_then_is_parked(db: Database) -> None:
    body = OfflineZoom().internal_sync("Standup", NOW - timedelta(hours=1)).bodies[0]
    store_now(db, [zoom_delivery(body)])
    decoder = FailingDecoder(failures=10**6)
    delays: list[timedelta] = []
    now = NOW
    for _ in range(4):
        process_inbox_batch(db, {"zoom": decoder}, policy(max_attempts=4), now, limit=10)
        (row,) = delivery_rows(db)
        if row.status == "pending":
            delays.append(row.next_attempt_at - now)
            now = row.next_attempt_at
    assert delays == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    (row,) = delivery_rows(db)
    assert (row.status, row.attempts) == ("parked", 4)
    assert "RuntimeError" in row.last_error
    assert decoder.calls == 4
    assert process_inbox_batch(db, {"zoom": decoder}, policy(), now + timedelta(days=1), 10) == 0


def test_replay_applies_done_deliveries_again_without_double_counting(
    runtime: Runtime, database_url: str
) -> None:
    played = OfflineZoom().customer_call("Demo", minutes_ago(90), guests=2)
    deliveries = [zoom_delivery(body) for body in played.bodies]
    # The customer's first join arrives on its own and is applied before the meeting's start:
    # the record must not depend on that order.
    store_now(runtime.db, [deliveries[2]], datetime.now(UTC))
    runtime.worker.drain()
    store_now(runtime.db, deliveries, datetime.now(UTC))
    runtime.worker.drain()
    before = attendance_snapshot(runtime.db, played)
    events_before = event_count(runtime.db)

    result = CliRunner().invoke(
        cli_app, ["inbox", "replay", "--status", "done"], env={"SALESMEET_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    assert f"{len(deliveries)} deliveries queued again" in result.output
    assert len(delivery_rows(runtime.db, status="pending")) == len(deliveries)
    assert runtime.worker.drain() == len(deliveries)

    assert attendance_snapshot(runtime.db, played) == before
    assert event_count(runtime.db) == events_before == len(deliveries)
    assert len(delivery_rows(runtime.db, status="done")) == len(deliveries)
    participants = {p["key"]: p for p in before["participants"]}
    assert {k: p["attended_seconds"] for k, p in participants.items()} == played.attended_seconds
    assert participants["bob@customer.example"]["late_seconds"] == 120


def test_events_for_an_unknown_zoom_meeting_make_a_discovered_meeting_with_attendance(
    database_url: str,
) -> None:
    zoom = OfflineZoom()
    customer = zoom.customer_call("Call with Bob", minutes_ago(60), guests=1)
    internal = zoom.internal_sync("Team sync", minutes_ago(50))
    with running_service(database_url) as svc:
        for body in (*customer.bodies, *internal.bodies):
            response = svc.client.post("/webhooks/zoom", content=body, headers=signed_headers(body))
            assert response.status_code == 200, response.text
        svc.runtime.worker.drain()

        listed = svc.client.get("/v1/meetings", params={"provider": "zoom"}, headers=auth()).json()["items"]
        by_zoom_id = {m["provider_meeting_id"]: m for m in listed}
        assert set(by_zoom_id) == {str(customer.meeting_id), str(internal.meeting_id)}
        found = by_zoom_id[str(customer.meeting_id)]
        assert (found["origin"], found["kind"], found["kind_derived"]) == ("provider", "customer", True)
        assert (found["title"], found["status"], found["duration_minutes"]) == ("Call with Bob", "ended", 30)
        assert by_zoom_id[str(internal.meeting_id)]["kind"] == "internal"

        response = svc.client.get(f"/v1/meetings/{found['id']}/attendance", headers=auth())
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["provider"] == "zoom"
        assert record["actual_duration_seconds"] == 30 * 60
        seconds = {p["email"] or p["name"]: p["attended_seconds"] for p in record["participants"]}
        assert seconds == {
            "host@acme.example": 1800,
            "bob@customer.example": 1560,
            "Guest 0": 420,
        }
        classes = {p["email"] or p["name"]: p["classification"] for p in record["participants"]}
        assert classes == {
            "host@acme.example": "internal",
            "bob@customer.example": "external",
            "Guest 0": "unidentified",
        }


def test_a_signed_event_dated_out_of_range_is_parked_once_and_the_api_keeps_answering(
    database_url: str,
) -> None:
    fixtures = Path(__file__).parents[1] / "integrations" / "zoom_webhook_fixtures"
    started = json.loads((fixtures / "meeting_started.json").read_bytes())
    started["payload"]["object"]["start_time"] = "9999-12-31T23:59:30Z"
    joined = json.loads((fixtures / "participant_joined.json").read_bytes())
    joined["payload"]["object"]["participant"]["join_time"] = "0001-01-01T00:00:00+14:00"
    with running_service(database_url) as svc:
        for data in (started, joined):
            body = json.dumps(data).encode()
            response = svc.client.post("/webhooks/zoom", content=body, headers=signed_headers(body))
            assert response.status_code == 200, response.text
        svc.runtime.worker.drain()

        parked = delivery_rows(svc.runtime.db, status="parked")
        assert [row.attempts for row in parked] == [1, 1]
        assert all("between 1970 and 2200" in row.last_error for row in parked)
        for params in ({}, {"provider": "zoom"}, {"from": "2026-01-01T00:00:00Z"}):
            response = svc.client.get("/v1/meetings", params=params, headers=auth())
            assert (response.status_code, response.json()["items"]) == (200, [])


# --- leases ----------------------------------------------------------------------------------


def test_a_lease_has_one_owner_until_it_expires(db: Database) -> None:
    ttl = timedelta(minutes=10)

    def acquire(owner: str, at: datetime) -> bool:
        with db.write() as conn:
            return leases.try_acquire(conn, "reconcile", owner, at, ttl)

    assert acquire("worker-a", NOW) is True
    assert acquire("worker-b", NOW + timedelta(minutes=1)) is False
    assert acquire("worker-a", NOW + timedelta(minutes=5)) is True  # the holder extends it
    assert acquire("worker-b", NOW + timedelta(minutes=14)) is False  # extended to 15 min
    assert acquire("worker-b", NOW + timedelta(minutes=15, seconds=1)) is True
    assert acquire("worker-a", NOW + timedelta(minutes=16)) is False
    assert acquire("worker-c", NOW + timedelta(minutes=16)) is False


def test_owners_racing_for_a_free_lease_get_it_once(db: Database) -> None:
    def acquire(owner: str) -> bool:
        with db.write() as conn:
            return leases.try_acquire(conn, "reconcile", owner, NOW, timedelta(minutes=10))

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(acquire, [f"replica-{n}" for n in range(8)]))
    assert sorted(outcomes) == [False] * 7 + [True]


# --- helpers ---------------------------------------------------------------------------------


def event_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(attendance_events)).scalar_one())


def attendance_snapshot(db: Database, played: PlayedMeeting) -> dict[str, Any]:
    with db.read() as conn:
        # Seen only in webhooks: the meeting is that one instance of the Zoom meeting id.
        meeting_id = conn.execute(
            select(meetings.c.id).where(meetings.c.provider_meeting_id == str(played.meeting_id))
        ).scalar_one()
        row = conn.execute(
            select(meetings.c.kind, meetings.c.status, meetings.c.actual_start, meetings.c.actual_end).where(
                meetings.c.id == meeting_id
            )
        ).one()
        return {"meeting": tuple(row), "participants": attendance_repo.load_participants(conn, meeting_id)}


def test_events_the_database_refuses_are_retried_alone_and_the_batch_goes_through(db: Database) -> None:
    played = OfflineZoom().internal_sync("Standup", NOW - timedelta(hours=1))
    good = [zoom_delivery(body) for body in played.bodies]
    poison = good[1]

    def decoder(body: bytes) -> list[AttendanceEvent]:
        events = decode_zoom_delivery(body)
        if body == poison.body:
            # A value the database layer refuses (it never stores a naive instant).
            object.__setattr__(events[0], "occurred_at", events[0].occurred_at.replace(tzinfo=None))
        return events

    store_now(db, good)
    assert process_inbox_batch(db, {"zoom": decoder}, policy(), NOW, limit=100) == len(good)
    (failed,) = delivery_rows(db, status="pending")
    assert failed.delivery_key == poison.delivery_key and failed.attempts == 1
    assert "naive datetime" in failed.last_error
    assert len(delivery_rows(db, status="done")) == len(good) - 1
    assert event_count(db) == len(good) - 1
