"""Two `salesmeet worker` OS processes on one PostgreSQL share the inbox and apply each delivery once.

The workers are started first and the backlog is committed in one transaction once both are
polling, so both meet the same 2,008 due deliveries at once (started after the fill, one worker
could drain everything while the other is still importing). Which worker applied what is read
from their `inbox.batch_applied` log lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from integrations.sandbox.zoom.webhooks import compact_json
from service.bootstrap import build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.storage import attendance_repo, inbox_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.storage.inbox_repo import Delivery
from service.storage.tables import attendance_events, meetings, webhook_deliveries
from tests.helpers_signing import OfflineZoom, minutes_ago, zoom_delivery
from tests.processes import WorkerProcess, wait_until, work_settled
from tests.support import sandbox_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MEETINGS = 8
GUESTS_PER_MEETING = 121  # 250 webhooks per meeting: 2,000 events


def worker_config(tmp_path: Path) -> Path:
    config = sandbox_config(reconcile_delay_seconds=86400)  # no reconciliation against the sandbox
    config["worker"] = {
        "poll_interval_seconds": 0.05,
        "batch_size": 50,
        "reconcile_sweep_interval_seconds": 3600,
    }
    path = tmp_path / "salesmeet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    database = Database(create_database_engine(postgres_url))
    upgrade_database(database.engine)
    yield database
    database.dispose()


def resent(body: bytes) -> bytes:
    """The same event in other bytes (a later event_ts): only the event key can tell them apart."""
    document = json.loads(body)
    document["event_ts"] += 5000
    return compact_json(document)


def test_two_worker_processes_apply_every_delivery_exactly_once(
    db: Database, postgres_url: str, tmp_path: Path
) -> None:
    zoom = OfflineZoom(seed=7)
    played = [
        zoom.customer_call(f"Call {n}", minutes_ago(55 - n), guests=GUESTS_PER_MEETING)
        for n in range(MEETINGS)
    ]
    originals = [zoom_delivery(body) for meeting in played for body in meeting.bodies]
    # The customer's first join once more, in different bytes: a new delivery, no new event.
    copies = [zoom_delivery(resent(meeting.bodies[2])) for meeting in played]
    deliveries = originals + copies
    assert (len(originals), len(deliveries)) == (2000, 2008)

    config = worker_config(tmp_path)
    workers = [
        WorkerProcess(f"worker-{n}", config, postgres_url, tmp_path / f"worker-{n}.log") for n in (1, 2)
    ]
    try:
        wait_until(lambda: all(w.logged("worker.started") for w in workers), "both workers to start", workers)
        with db.write() as conn:
            inbox_repo.insert_deliveries(conn, deliveries, datetime.now(UTC))
        wait_until(
            lambda: work_settled(db, MEETINGS), "the inbox to drain and every record to refresh", workers
        )
    finally:
        exit_codes = [w.stop() for w in workers]
    assert exit_codes == [0, 0]
    assert all(w.logged("worker.stopped") for w in workers)

    # Every delivery done exactly once, at the first attempt.
    with db.read() as conn:
        c = webhook_deliveries.c
        rows = conn.execute(select(c.status, c.attempts, c.processed_at, c.last_error)).all()
    assert len(rows) == len(deliveries)
    assert {(r.status, r.attempts, r.last_error) for r in rows} == {("done", 0, None)}
    assert all(r.processed_at is not None for r in rows)

    # Both workers took part, and their batches add up to the inbox with nothing applied twice.
    done_by_worker = {w.name: sum(e["done"] for e in w.logged("inbox.batch_applied")) for w in workers}
    assert all(n > 0 for n in done_by_worker.values()), done_by_worker
    assert sum(done_by_worker.values()) == len(deliveries), done_by_worker

    # One row per distinct event: the copies added none.
    with db.read() as conn:
        e = attendance_events.c
        assert conn.execute(select(func.count()).select_from(attendance_events)).scalar_one() == len(
            originals
        )
        repeated = conn.execute(
            select(e.provider_meeting_id, e.event_key)
            .group_by(e.provider, e.provider_meeting_id, e.event_key)
            .having(func.count() > 1)
        ).all()
    assert repeated == []

    # The records are what one worker draining the same inbox alone computes, and the truth.
    together = attendance_by_zoom_meeting(db)
    assert together == drained_alone(deliveries, tmp_path)
    assert set(together) == {str(m.meeting_id) for m in played}
    for meeting in played:
        assert attended_seconds(together[str(meeting.meeting_id)]) == meeting.attended_seconds


def drained_alone(deliveries: list[Delivery], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The same inbox, in the same order, applied by one in-process worker on its own database."""
    config = parse_config(sandbox_config(reconcile_delay_seconds=86400))
    runtime = build_runtime(config, Settings(database_url=f"sqlite:///{tmp_path}/alone.db"))
    try:
        upgrade_database(runtime.db.engine)
        with runtime.db.write() as conn:
            inbox_repo.insert_deliveries(conn, deliveries, datetime.now(UTC))
        assert runtime.worker.drain() == len(deliveries)
        return attendance_by_zoom_meeting(runtime.db)
    finally:
        runtime.close()


def attendance_by_zoom_meeting(db: Database) -> dict[str, dict[str, Any]]:
    """Each meeting's derived fields and attendance rows, keyed by Zoom meeting id (ours are random)."""
    m = meetings.c
    found: dict[str, dict[str, Any]] = {}
    with db.read() as conn:
        rows = conn.execute(
            select(
                m.id,
                m.provider_meeting_id,
                m.origin,
                m.kind,
                m.status,
                m.title,
                m.start_at,
                m.end_at,
                m.duration_minutes,
                m.actual_start,
                m.actual_end,
            )
        ).all()
        for row in rows:
            found[row.provider_meeting_id] = {
                "meeting": tuple(row[2:]),
                "participants": attendance_repo.load_participants(conn, row.id),
            }
    return found


def attended_seconds(record: dict[str, Any]) -> dict[str, int]:
    return {p["key"]: p["attended_seconds"] for p in record["participants"]}
