"""A 2xx from POST /webhooks/zoom means the delivery survives the server being killed, again and again.

`salesmeet serve` (with its in-process worker) runs as an OS process on one port. Signed Zoom
deliveries stream at it from several threads while it is SIGKILLed (no shutdown, no flush) and
restarted on the same database ten times. A sender that gets no answer sends the same delivery
again once the server is back, as Zoom retries; so a delivery stored just before a kill arrives a
second time. After every kill, read with the server down, each delivery answered 2xx so far is in
the inbox. At the end every delivery is stored once, every event once, and every attendance record
equals the emulator's ground truth: nothing lost to a kill, nothing counted twice by a retry or by
a worker killed mid-batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from integrations.zoom.webhook import delivery_key
from service.storage import attendance_repo, inbox_repo
from service.storage.database import Database, create_database_engine
from service.storage.tables import attendance_events, meetings, webhook_deliveries
from tests.helpers_signing import SANDBOX_SECRET, OfflineZoom, PlayedMeeting, minutes_ago, signed_headers
from tests.processes import ServeProcess, free_port
from tests.support import sandbox_config

pytestmark = pytest.mark.slow

KILLS = 10
SENDER_THREADS = 8
# Deliveries acknowledged between two kills: the stream is still going at every kill.
ACKNOWLEDGED_PER_LIFE = 60
# Each sender pauses between deliveries, so a kill lands mid-stream rather than after it.
SEND_PAUSE_SECONDS = 0.01
WAIT_SECONDS = 30


def start_server(config: Path, database_url: str, port: int, log_path: Path) -> ServeProcess:
    """`salesmeet serve` with the in-process worker on, on a fixed port (restarts reuse it), ready."""
    # The sandbox generates its webhook secret; the test signs with a known one, as an admin may set.
    env = {"SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN": SANDBOX_SECRET}
    server = ServeProcess(
        "serve", config, database_url, log_path, port=port, extra_args=("--worker",), env=env
    )
    server.wait_ready(WAIT_SECONDS)
    return server


@dataclass
class Stream:
    """Bodies handed out to sender threads. A body without an answer is sent again until answered."""

    url: str
    bodies: list[bytes]
    answers: dict[bytes, int] = field(default_factory=dict)
    unanswered_attempts: int = 0
    retried: set[bytes] = field(default_factory=set)
    _acknowledged_goal: int = 0
    goal_reached: threading.Event = field(default_factory=threading.Event)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bytes | None:
        with self._lock:
            if self._next == len(self.bodies):
                return None
            self._next += 1
            return self.bodies[self._next - 1]

    def acknowledged(self) -> list[bytes]:
        with self._lock:
            return [body for body, status in self.answers.items() if status == 200]

    def expect_more(self, count: int) -> None:
        """Set `goal_reached` once `count` more deliveries than now have been acknowledged."""
        with self._lock:
            self.goal_reached.clear()
            self._acknowledged_goal = sum(1 for s in self.answers.values() if s == 200) + count

    def remaining(self) -> int:
        with self._lock:
            return len(self.bodies) - self._next

    def _record(self, body: bytes, status: int | None) -> None:
        with self._lock:
            if status is None:
                self.unanswered_attempts += 1
                self.retried.add(body)
                return
            self.answers[body] = status
            if sum(1 for s in self.answers.values() if s == 200) >= self._acknowledged_goal:
                self.goal_reached.set()

    def send_all(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while (body := self.take()) is not None:
                deadline = time.monotonic() + 2 * WAIT_SECONDS
                while True:
                    try:
                        # Signed afresh each try, as Zoom does: the timestamp is part of the signature.
                        status: int | None = client.post(
                            "/webhooks/zoom", content=body, headers=signed_headers(body)
                        ).status_code
                    except httpx.HTTPError:
                        status = None
                    self._record(body, status)
                    if status is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                time.sleep(SEND_PAUSE_SECONDS)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    config = sandbox_config(reconcile_delay_seconds=86400)  # no reconciliation against the sandbox
    config["worker"] = {"poll_interval_seconds": 0.05, "reconcile_sweep_interval_seconds": 3600}
    path = tmp_path / "salesmeet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(create_database_engine(database_url))
    yield database
    database.dispose()


def test_ten_kills_lose_no_acknowledged_delivery_and_count_none_twice(
    database_url: str, db: Database, config_path: Path, tmp_path: Path
) -> None:
    zoom = OfflineZoom(seed=3)
    played = [zoom.customer_call(f"Call {n}", minutes_ago(55 - n), guests=50) for n in range(12)]
    bodies = [body for meeting in played for body in meeting.bodies]
    assert len(bodies) > (KILLS + 1) * ACKNOWLEDGED_PER_LIFE, "enough deliveries to outlast every kill"
    port = free_port()
    log_path = tmp_path / "serve.log"
    stream = Stream(f"http://127.0.0.1:{port}", bodies)
    senders = [threading.Thread(target=stream.send_all) for _ in range(SENDER_THREADS)]

    committed_unanswered = 0
    started = time.monotonic()
    server = start_server(config_path, database_url, port, log_path)
    try:
        stream.expect_more(ACKNOWLEDGED_PER_LIFE)
        for sender in senders:
            sender.start()
        for kill in range(KILLS):
            assert stream.goal_reached.wait(WAIT_SECONDS), f"life {kill + 1}: too few deliveries acknowledged"
            assert stream.remaining() > 0, f"kill {kill + 1} came after the stream ended"
            server.kill()
            # Read while the server is down: what the restart will find.
            committed_unanswered += stored_unacknowledged(db, stream.acknowledged(), f"kill {kill + 1}")
            stream.expect_more(ACKNOWLEDGED_PER_LIFE)
            server = start_server(config_path, database_url, port, log_path)
        for sender in senders:
            sender.join(2 * WAIT_SECONDS)
        assert not any(sender.is_alive() for sender in senders)
        wait_for_worker(db)
    finally:
        server.stop()
    elapsed = time.monotonic() - started

    # Every delivery was answered in the end, and only with 200; some lost their answer to a kill.
    assert set(stream.answers.values()) == {200}
    assert len(stream.answers) == len(bodies)
    assert stream.retried, "no delivery lost its answer to a kill"

    # Each delivery stored once, each event once, nothing left behind.
    with db.read() as conn:
        c = webhook_deliveries.c
        stored = conn.execute(select(c.delivery_key, c.status)).all()
        events = conn.execute(select(func.count()).select_from(attendance_events)).scalar_one()
        distinct_events = conn.execute(
            select(func.count()).select_from(
                select(attendance_events.c.provider_meeting_id, attendance_events.c.event_key)
                .distinct()
                .subquery()
            )
        ).scalar_one()
    assert sorted(key for key, _ in stored) == sorted(delivery_key(body) for body in bodies)
    assert {status for _, status in stored} == {inbox_repo.DONE}
    assert events == distinct_events == len(bodies)

    # Attendance is the truth: no session lost, none counted twice.
    for meeting in played:
        assert attended_seconds(db, meeting) == meeting.attended_seconds
    print(
        f"\n{KILLS} SIGKILLs, {len(bodies)} deliveries in {elapsed:.1f} s: {len(stream.retried)} sent again"
        f" after a kill ({stream.unanswered_attempts} unanswered tries), {committed_unanswered} of them"
        " already committed when their answer was lost"
    )


def stored_unacknowledged(db: Database, acknowledged: list[bytes], when: str) -> int:
    """Check every acknowledged delivery is stored; return how many stored ones never got their 2xx
    (committed, then killed before the answer): their senders send them again."""
    with db.read() as conn:
        stored = set(conn.execute(select(webhook_deliveries.c.delivery_key)).scalars())
    acknowledged_keys = {delivery_key(body) for body in acknowledged}
    missing = acknowledged_keys - stored
    assert missing == set(), (
        f"{when}: {len(missing)} of {len(acknowledged)} acknowledged deliveries were lost"
    )
    return len(stored - acknowledged_keys)


def attended_seconds(db: Database, meeting: PlayedMeeting) -> dict[str, int]:
    with db.read() as conn:
        meeting_id = conn.execute(
            select(meetings.c.id).where(meetings.c.provider_meeting_id == str(meeting.meeting_id))
        ).scalar_one()
        participants = attendance_repo.load_participants(conn, meeting_id)
    return {p["key"]: p["attended_seconds"] for p in participants}


def wait_for_worker(db: Database) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with db.read() as conn:
            pending = inbox_repo.counts_by_status(conn).get(inbox_repo.PENDING, 0)
            dirty = conn.execute(
                select(func.count()).select_from(meetings).where(meetings.c.attendance_dirty.is_(True))
            ).scalar_one()
        if pending == 0 and dirty == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the worker left {pending} deliveries pending and {dirty} records stale")
        time.sleep(0.1)
