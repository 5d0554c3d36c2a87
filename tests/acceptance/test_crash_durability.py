"""A 2xx from POST /webhooks/zoom means the delivery survives the server being killed.

`salesmeet serve` runs as an OS process; signed Zoom deliveries are fired at it from several
threads and the process is SIGKILLed mid-stream (no shutdown, no flush). After a restart on the
same database, every delivery that was answered 2xx is in the inbox and, once the worker has
drained it, its events are in the attendance record. Deliveries without an answer may or may not
be there: Zoom retries those.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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
from integrations.zoom.webhook_check import decode_zoom_delivery
from service.domain.events import EventType
from service.storage import inbox_repo
from service.storage.database import Database, create_database_engine
from service.storage.tables import attendance_events, meetings, participant_attendance, webhook_deliveries
from tests.helpers_signing import OfflineZoom, minutes_ago, signed_headers
from tests.support import sandbox_config

pytestmark = pytest.mark.slow

SALESMEET = str(Path(sys.executable).with_name("salesmeet"))
SENDER_THREADS = 8
KILL_AFTER_ACKNOWLEDGED = 150
WAIT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`salesmeet serve` as a child process, with the in-process worker on."""

    def __init__(self, config: Path, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SALESMEET_DATABASE_URL": database_url, "SALESMEET_LOG_FORMAT": "json"}
        command = [SALESMEET, "serve", "--config", str(config), "--port", str(self.port), "--worker"]
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited:\n{self.log_path.read_text()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        pytest.fail("salesmeet serve did not become ready")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Firing:
    """Bodies handed out to sender threads; each answer (status, or None for none) is recorded."""

    bodies: list[bytes]
    answers: dict[bytes, int | None] = field(default_factory=dict)
    acknowledged: threading.Event = field(default_factory=threading.Event)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bytes | None:
        with self._lock:
            if self._next == len(self.bodies):
                return None
            self._next += 1
            return self.bodies[self._next - 1]

    def record(self, body: bytes, status: int | None) -> None:
        with self._lock:
            self.answers[body] = status
            if sum(1 for s in self.answers.values() if s == 200) >= KILL_AFTER_ACKNOWLEDGED:
                self.acknowledged.set()

    def send_all(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            while (body := self.take()) is not None:
                try:
                    status: int | None = client.post(
                        "/webhooks/zoom", content=body, headers=signed_headers(body)
                    ).status_code
                except httpx.HTTPError:
                    status = None
                self.record(body, status)


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


def test_every_acknowledged_delivery_survives_a_kill_and_reaches_the_record(
    database_url: str, db: Database, config_path: Path, tmp_path: Path
) -> None:
    zoom = OfflineZoom(seed=3)
    played = [zoom.customer_call(f"Call {n}", minutes_ago(50 - n), guests=60) for n in range(4)]
    firing = Firing([body for meeting in played for body in meeting.bodies])
    log_path = tmp_path / "serve.log"

    server = Server(config_path, database_url, log_path)
    senders = [threading.Thread(target=firing.send_all, args=(server.url,)) for _ in range(SENDER_THREADS)]
    try:
        for sender in senders:
            sender.start()
        assert firing.acknowledged.wait(WAIT_SECONDS), "the server acknowledged too few deliveries"
        server.kill()
        for sender in senders:
            sender.join(WAIT_SECONDS)
    finally:
        server.stop()

    statuses = set(firing.answers.values())
    assert statuses <= {200, None}, statuses
    acknowledged = [body for body, status in firing.answers.items() if status == 200]
    assert KILL_AFTER_ACKNOWLEDGED <= len(acknowledged) < len(firing.bodies), "killed mid-stream"

    restarted = Server(config_path, database_url, log_path)
    try:
        with db.read() as conn:
            stored = set(conn.execute(select(webhook_deliveries.c.delivery_key)).scalars())
        missing = [body for body in acknowledged if delivery_key(body) not in stored]
        assert missing == [], f"{len(missing)} acknowledged deliveries were lost"
        wait_for_worker(db)
    finally:
        restarted.stop()

    with db.read() as conn:
        done = dict(
            conn.execute(select(webhook_deliveries.c.delivery_key, webhook_deliveries.c.status)).all()
        )
        events = set(
            conn.execute(select(attendance_events.c.provider_meeting_id, attendance_events.c.event_key)).all()
        )
        attendees = set(
            conn.execute(
                select(meetings.c.provider_meeting_id, participant_attendance.c.participant_key).join(
                    meetings, meetings.c.id == participant_attendance.c.meeting_id
                )
            ).all()
        )
    for body in acknowledged:
        assert done[delivery_key(body)] == "done"
        for event in decode_zoom_delivery(body):
            assert (event.provider_meeting_id, event.event_key) in events
            if event.type is EventType.PARTICIPANT_JOINED:
                assert event.participant is not None
                assert (event.provider_meeting_id, event.participant.key) in attendees


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
