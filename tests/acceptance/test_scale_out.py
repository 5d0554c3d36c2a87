"""Scale-out on one PostgreSQL: two `serve --no-worker` replicas and two `salesmeet worker` processes.

All four start together on an empty schema (their migrations race; PostgreSQL's advisory lock
serialises them). Signed Zoom deliveries stream at both replicas, and every tenth one is sent to
the other replica as well, as a retry that lands elsewhere behind a load balancer does. Midway the
worker holding the reconciliation lease is SIGKILLed. Proven from what the processes expose:

- nothing lost or doubled: every delivery answered 200 is stored once and applied once, each event
  is stored once, every attendance record equals the emulator's ground truth, and the replicas'
  /metrics count each delivery as `stored` once and every copy as `duplicate`;
- both replicas ingested and both workers applied deliveries;
- the periodic job (the reconciliation sweep, every second here) ran once per period across the
  workers: its `worker.periodic_job` log lines, merged from both, are at least a period apart,
  come from the lease holder only while it lives, and from the survivor after the lease expires.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from integrations.zoom.webhook import delivery_key
from service.storage import attendance_repo, inbox_repo
from service.storage.database import Database, create_database_engine
from service.storage.tables import attendance_events, job_leases, meetings, webhook_deliveries
from tests.helpers_signing import SANDBOX_SECRET, OfflineZoom, minutes_ago, signed_headers
from tests.processes import SalesmeetProcess, ServeProcess, WorkerProcess, wait_until, work_settled
from tests.support import sandbox_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MEETINGS = 10
GUESTS = 50
SENDER_THREADS = 8
SEND_PAUSE_SECONDS = 0.05
RECONCILE_PERIOD = timedelta(seconds=1)
COPY_EVERY = 10
# Sweeps while both workers live, before the lease holder is killed.
SWEEPS_BEFORE_KILL = 5
WAIT_SECONDS = 40


ZOOM_SECRET = {"SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN": SANDBOX_SECRET}


class Replica(ServeProcess):
    def __init__(self, name: str, config: Path, database_url: str, log_path: Path) -> None:
        # The sandbox generates its webhook secret; the test signs with a known one, as an admin may set.
        super().__init__(name, config, database_url, log_path, extra_args=("--no-worker",), env=ZOOM_SECRET)

    def zoom_metrics(self, name: str, label: str) -> dict[str, float]:
        """This replica's /metrics samples `name{provider="zoom"}`, by the value of `label`."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return {
            sample.labels[label]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and sample.labels.get("provider") == "zoom"
        }


class Worker(WorkerProcess):
    @property
    def owner(self) -> str:
        started = self.logged("worker.started")
        assert started, f"{self.name} has not started"
        owner: str = started[0]["owner"]
        return owner

    def periodic_runs(self) -> list[datetime]:
        return [datetime.fromisoformat(e["at"]) for e in self.logged("worker.periodic_job")]


@dataclass
class Stream:
    """Sender threads take bodies in turn; thread n sends to replica n % 2, and every tenth body
    to the other replica as well. Every answer is kept, per replica."""

    replicas: list[str]
    bodies: list[bytes]
    answers: list[tuple[int, bytes, int | None]] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[int, bytes] | None:
        with self._lock:
            if self._next == len(self.bodies):
                return None
            self._next += 1
            return self._next - 1, self.bodies[self._next - 1]

    def acknowledged(self) -> int:
        with self._lock:
            return sum(1 for _, _, status in self.answers if status == 200)

    def send_all(self, thread: int) -> None:
        clients = [httpx.Client(base_url=url, timeout=10) for url in self.replicas]
        try:
            while (taken := self.take()) is not None:
                index, body = taken
                replica = thread % 2
                targets = [replica, 1 - replica] if index % COPY_EVERY == 0 else [replica]
                for target in targets:
                    try:
                        status: int | None = (
                            clients[target]
                            .post("/webhooks/zoom", content=body, headers=signed_headers(body))
                            .status_code
                        )
                    except httpx.HTTPError:
                        status = None
                    with self._lock:
                        self.answers.append((target, body, status))
                time.sleep(SEND_PAUSE_SECONDS)
        finally:
            for client in clients:
                client.close()


def test_two_replicas_and_two_workers_lose_nothing_double_nothing_and_sweep_once_per_period(
    postgres_url: str, tmp_path: Path
) -> None:
    config = sandbox_config(reconcile_delay_seconds=86400)  # no reconciliation against the sandbox
    config["worker"] = {
        "poll_interval_seconds": 0.05,
        "batch_size": 50,
        "reconcile_sweep_interval_seconds": RECONCILE_PERIOD.total_seconds(),
    }
    config_path = tmp_path / "salesmeet.yaml"
    config_path.write_text(yaml.safe_dump(config))
    zoom = OfflineZoom(seed=11)
    played = [zoom.customer_call(f"Call {n}", minutes_ago(55 - n), guests=GUESTS) for n in range(MEETINGS)]
    bodies = [body for meeting in played for body in meeting.bodies]
    copies = len(range(0, len(bodies), COPY_EVERY))

    started = time.monotonic()
    replicas = [Replica(f"serve-{n}", config_path, postgres_url, tmp_path / f"serve-{n}.log") for n in (1, 2)]
    workers = [
        Worker(f"worker-{n}", config_path, postgres_url, tmp_path / f"worker-{n}.log", ZOOM_SECRET)
        for n in (1, 2)
    ]
    everyone: list[SalesmeetProcess] = [*replicas, *workers]
    alive: list[SalesmeetProcess] = list(everyone)
    db = Database(create_database_engine(postgres_url))
    try:
        wait_until(lambda: all(r.ready() for r in replicas), "both replicas to be ready", alive)
        wait_until(lambda: all(w.logged("worker.started") for w in workers), "both workers to start", alive)
        startup_seconds = time.monotonic() - started

        stream = Stream([r.url for r in replicas], bodies)
        senders = [threading.Thread(target=stream.send_all, args=(n,)) for n in range(SENDER_THREADS)]
        streaming = time.monotonic()
        for sender in senders:
            sender.start()
        wait_until(
            lambda: (
                stream.acknowledged() >= len(bodies) // 2
                and sum(len(w.periodic_runs()) for w in workers) >= SWEEPS_BEFORE_KILL
            ),
            "half the stream and a few sweeps",
            alive,
        )
        holder = lease_holder(db, workers)
        survivor = next(w for w in workers if w is not holder)
        holder.kill()
        killed_at = datetime.now().astimezone()
        alive.remove(holder)
        for sender in senders:
            sender.join(WAIT_SECONDS)
        assert not any(sender.is_alive() for sender in senders)
        stream_seconds = time.monotonic() - streaming
        wait_until(
            lambda: work_settled(db, MEETINGS), "the inbox to drain and every record to refresh", alive
        )
        wait_until(
            lambda: sum(1 for at in survivor.periodic_runs() if at > killed_at) >= 3,
            "the survivor to take the sweep over",
            alive,
        )
        counts = [r.zoom_metrics("salesmeet_webhooks_total", "outcome") for r in replicas]
        backlogs = [r.zoom_metrics("salesmeet_inbox_backlog", "status") for r in replicas]
    finally:
        exit_codes = [p.stop() for p in alive]
        db_rows = read_outcome(db)
        db.dispose()
    # uvicorn re-raises SIGTERM once it has shut down gracefully; a worker exits 0.
    assert exit_codes == [-signal.SIGTERM, -signal.SIGTERM, 0], exit_codes

    # Every request was answered 200, on both replicas.
    assert len(stream.answers) == len(bodies) + copies
    assert {status for _, _, status in stream.answers} == {200}
    per_replica = [sum(1 for target, _, _ in stream.answers if target == n) for n in (0, 1)]
    assert all(n > len(bodies) // 3 for n in per_replica), per_replica

    # Each delivery stored once and applied; each event once; the records are the truth.
    stored_keys, statuses, events, distinct_events, seconds = db_rows
    assert sorted(stored_keys) == sorted(delivery_key(body) for body in bodies)
    assert statuses == {inbox_repo.DONE}
    assert events == distinct_events == len(bodies)
    for meeting in played:
        assert seconds[str(meeting.meeting_id)] == meeting.attended_seconds

    # The replicas' own counters agree: each delivery stored by exactly one, every copy a duplicate.
    assert sum(c.get("stored", 0) for c in counts) == len(bodies), counts
    assert sum(c.get("duplicate", 0) for c in counts) == copies, counts
    assert all(c.get("stored", 0) > 0 for c in counts), counts
    # And both report the shared inbox drained, nothing parked.
    assert backlogs == [{"unresolved": 0, "pending": 0, "parked": 0}] * 2, backlogs

    # Both workers applied deliveries (the killed one before its death).
    applied = {w.name: sum(e["done"] for e in w.logged("inbox.batch_applied")) for w in workers}
    assert all(n > 0 for n in applied.values()), applied

    # The sweep: once per period across both workers, by the lease holder, then by the survivor.
    runs = sorted(
        [(at, holder.name) for at in holder.periodic_runs()]
        + [(at, survivor.name) for at in survivor.periodic_runs()]
    )
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(runs)]
    assert min(gaps) >= RECONCILE_PERIOD, [str(g) for g in gaps]
    before_kill = [name for at, name in runs if at < killed_at]
    after_kill = [name for at, name in runs if at > killed_at]
    assert len(before_kill) >= SWEEPS_BEFORE_KILL
    assert set(before_kill) == {holder.name}, runs
    assert set(after_kill) == {survivor.name}, runs
    takeover = min(at for at, name in runs if name == survivor.name) - max(
        at for at, name in runs if name == holder.name
    )
    assert takeover <= 2 * RECONCILE_PERIOD + timedelta(seconds=2), takeover
    print(
        f"\nstart-up {startup_seconds:.1f} s; {len(bodies)} deliveries + {copies} cross-replica copies in"
        f" {stream_seconds:.1f} s, per replica {per_replica}; applied per worker {applied};"
        f" sweep ran {len(runs)} times,"
        f" {min(gaps).total_seconds():.2f}-{max(gaps).total_seconds():.2f} s apart,"
        f" {len(before_kill)} by {holder.name} then {len(after_kill)} by {survivor.name}"
        f" ({takeover.total_seconds():.2f} s after its last run)"
    )


def lease_holder(db: Database, workers: list[Worker]) -> Worker:
    with db.read() as conn:
        owner = conn.execute(select(job_leases.c.owner).where(job_leases.c.name == "reconcile")).scalar_one()
    return next(w for w in workers if w.owner == owner)


def read_outcome(
    db: Database,
) -> tuple[list[str], set[str], int, int, dict[str, dict[str, int]]]:
    with db.read() as conn:
        c = webhook_deliveries.c
        rows = conn.execute(select(c.delivery_key, c.status)).all()
        events = conn.execute(select(func.count()).select_from(attendance_events)).scalar_one()
        e = attendance_events.c
        distinct_events = conn.execute(
            select(func.count()).select_from(select(e.provider_meeting_id, e.event_key).distinct().subquery())
        ).scalar_one()
        seconds = {
            row.provider_meeting_id: {
                p["key"]: p["attended_seconds"] for p in attendance_repo.load_participants(conn, row.id)
            }
            for row in conn.execute(select(meetings.c.id, meetings.c.provider_meeting_id)).all()
        }
    return [r.delivery_key for r in rows], {r.status for r in rows}, events, distinct_events, seconds
