"""How long `GET /v1/meetings/{id}/attendance` takes for a very large meeting, and whether reading it
holds back webhook acknowledgements.

    python -m bench.attendance_read [--participants 7400] [--requests 10] [--readers 0]
                                    [--database-url URL] [--live]

Plays one Zoom meeting of N participants (each joins once and leaves once) with the emulator's
meeting player (`--live`: no end yet, half of them still in), stores the real webhook bodies in
the inbox and lets the worker turn them into a discovered meeting, then serves the real app
(`create_app(build_runtime(...))`, no in-process worker, uvloop + httptools) in a process of its
own on a loopback port (so this process's clients never share its GIL) and times:

- `GET .../attendance` over HTTP, one request at a time (the worker stored the record; it is
  served from there);
- in process, side by side: the record computed at read time and rendered by the pydantic
  response model (how every read was served before records were stored), and the stored record
  read and rendered as the route serves it now;
- with `--readers C`: signed webhook deliveries posted one at a time, first with nobody reading
  (the baseline), then while C clients read that record in a loop; prints both acknowledgement
  latencies and their ratio (intake has its own database pool).

Prints figures only; asserts nothing about speed. SQLite (a temp file) always; PostgreSQL with
--database-url (a fresh schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from integrations.sandbox.zoom import End, Join, Leave, MeetingPlayer, ScriptPerson, Start, ZoomEmulatorConfig
from integrations.sandbox.zoom.config import ZoomUser
from integrations.sandbox.zoom.state import ZoomEmulatorState
from integrations.sandbox.zoom.webhooks import zoom_signature
from integrations.zoom.webhook import delivery_key
from integrations.zoom.webhook_check import decode_zoom_delivery
from service.api.app import create_app
from service.api.attendance_json import attendance_json
from service.api.schemas import AttendanceOut, ParticipantOut, SessionOut
from service.bootstrap import Runtime, build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.meeting import CompanyDomains
from service.logging import configure_logging
from service.storage import inbox_repo, meetings_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.read_attendance import read_attendance
from service.usecases.record_attendance import AttendancePolicy, compute_meeting_attendance
from service.worker import Worker

HOST = ZoomUser("host@acme.example", "u_host0001", "Hanna", "Host")
WEBHOOK_SECRET = "bench-webhook-secret"
READER_KEY = "bench-reports-key"
BEGIN = datetime(2026, 11, 2, 9, tzinfo=UTC)


def played_meeting(participants: int, *, live: bool = False) -> list[bytes]:
    """The webhook bodies of one meeting: start, every join, every leave, end. Live: no end yet,
    and every other participant has not left (their sessions are open)."""
    state = ZoomEmulatorState(ZoomEmulatorConfig(users=(HOST,)))
    meeting_id = state.add_meeting(HOST, topic="All-hands sales kick-off", start_time=BEGIN).id
    people = [
        ScriptPerson(f"Person {i}", f"p{i}@customer{i % 50}.example" if i % 4 else "")
        for i in range(participants)
    ]
    script: list[Start | Join | Leave | End] = [Start(BEGIN)]
    # Joins spread over the first ten minutes and leaves over ten minutes from 50 min, in time order.
    offsets = [timedelta(seconds=i * 600 // participants) for i in range(participants)]
    script += [Join(BEGIN + at, p) for at, p in zip(offsets, people, strict=True)]
    script += [
        Leave(BEGIN + timedelta(minutes=50) + at, p)
        for n, (at, p) in enumerate(zip(offsets, people, strict=True))
        if not (live and n % 2)
    ]
    if not live:
        script.append(End(BEGIN + timedelta(hours=1)))
    return [e.body for e in MeetingPlayer(state).play(meeting_id, script).events]


def store_meeting(url: str, bodies: list[bytes]) -> str:
    """Stores the deliveries and applies them as the worker does; returns the meeting's id."""
    db = Database(create_database_engine(url))
    upgrade_database(db.engine)
    now = datetime.now(UTC)
    with db.write() as conn:
        deliveries = [inbox_repo.Delivery("zoom", delivery_key(b), b, {}) for b in bodies]
        for i in range(0, len(deliveries), 1000):
            inbox_repo.insert_deliveries(conn, deliveries[i : i + 1000], now)
    policy = AttendancePolicy(CompanyDomains.of(["acme.example"]), 60, "UTC", timedelta(minutes=2))
    handled = Worker(db, ProviderRegistry({}), {"zoom": decode_zoom_delivery}, policy, batch_size=500).drain()
    assert handled == len(bodies), (handled, len(bodies))
    with db.read() as conn:
        items, _ = meetings_repo.list_meetings(conn, meetings_repo.MeetingFilter(), limit=2, after=None)
    db.dispose()
    assert len(items) == 1, items
    return items[0].id


def _runtime(url: str) -> Runtime:
    """The production app's runtime as `salesmeet serve --no-worker` builds it, with a reports key."""
    config = parse_config(
        {
            "public_url": "http://127.0.0.1:9",
            "company": {"name": "Acme", "internal_domains": ["acme.example"], "timezone": "Europe/Berlin"},
            "providers": {"zoom": {"enabled": True, "account_id": "bench", "client_id": "bench"}},
            "routing": {"default": "zoom"},
            "api_keys": [
                {
                    "name": "bench",
                    "scope": "reports",
                    "hash": "sha256:" + hashlib.sha256(READER_KEY.encode()).hexdigest(),
                }
            ],
        }
    )
    settings = Settings(database_url=url).with_secrets(
        {"zoom_webhook_secret_token": WEBHOOK_SECRET, "zoom_client_secret": "unused-here"}
    )
    return build_runtime(config, settings)


def _serve_process(url: str, port_out: Connection) -> None:
    """Child process entry: the app on the production stack (uvloop + httptools), no worker."""
    configure_logging(json_format=True, level="WARNING")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port_out.send(sock.getsockname()[1])
    port_out.close()
    app = create_app(_runtime(url), run_worker=False)
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, loop="uvloop", http="httptools"
    )
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def serve(url: str) -> Iterator[str]:
    """The app in a process of its own (its GIL is not shared with this process's clients)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_serve_process, args=(url, sender), daemon=True)
    process.start()
    sender.close()
    port: int = receiver.recv()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code < 500:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not process.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.join(10)


def in_process(runtime: Runtime, meeting_id: str, runs: int = 3) -> dict[str, float]:
    """Median seconds of each step, in process: the record computed at read time and rendered by
    the response model (how the route served it before records were stored), and the stored record
    read and rendered as the route serves it now."""
    svc = runtime.services
    steps: dict[str, list[float]] = {"compute": [], "model_json": [], "stored": [], "stored_json": []}
    for _ in range(runs):
        began = time.perf_counter()
        with svc.db.read() as conn:
            meeting = meetings_repo.get_meeting(conn, meeting_id)
            assert meeting is not None
            record, _ = compute_meeting_attendance(conn, meeting, svc.attendance_policy, svc.clock())
        computed = time.perf_counter()
        AttendanceOut(
            meeting_id=meeting.id,
            provider=meeting.provider,
            actual_start=record.actual_start,
            actual_end=record.actual_end,
            actual_duration_seconds=record.actual_duration_seconds,
            completeness=meeting.completeness,
            completeness_reason=meeting.completeness_reason,
            participants=[
                ParticipantOut(
                    email=p.email,
                    name=p.name,
                    classification=p.classification,
                    invited=p.invited,
                    attended_seconds=p.attended_seconds,
                    attended=p.attended,
                    first_join=p.first_join,
                    last_leave=p.last_leave,
                    late_seconds=p.late_seconds,
                    sessions=[SessionOut(joined_at=x.joined_at, left_at=x.left_at) for x in p.sessions],
                )
                for p in record.participants
            ],
        ).model_dump_json()
        rendered = time.perf_counter()
        view = read_attendance(svc.db, meeting_id, svc.attendance_policy, svc.clock())
        assert view.served_stored, "the worker stored the record; it should be served"
        read = time.perf_counter()
        attendance_json(view.meeting, view.record)
        done = time.perf_counter()
        for name, seconds in (
            ("compute", computed - began),
            ("model_json", rendered - computed),
            ("stored", read - rendered),
            ("stored_json", done - read),
        ):
            steps[name].append(seconds)
    return {name: statistics.median(values) for name, values in steps.items()}


def signed_delivery(n: int) -> tuple[bytes, dict[str, str]]:
    participant = {"user_id": str(n), "user_name": "G", "id": "", "email": f"g{n}@x.example"}
    data = {
        "event": "meeting.participant_joined",
        "event_ts": n,
        "payload": {
            "account_id": "a",
            "object": {
                "id": "777",
                "uuid": "bench-ack==",
                "topic": "t",
                "participant": {**participant, "join_time": "2026-11-02T09:00:00Z"},
            },
        },
    }
    body = json.dumps(data, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    return body, {
        "content-type": "application/json",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": zoom_signature(WEBHOOK_SECRET, timestamp, body),
    }


ACKS = 40  # deliveries posted one at a time, 50 ms apart, per measurement


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def acks_while_reading(
    base: str, path: str, readers: int, deliveries: int
) -> tuple[list[float], int, int, float]:
    """Webhook acknowledgement latencies while `readers` clients read the record in a loop; how many
    acks were refused, how many reads failed, and the reads served per second meanwhile."""
    stop = threading.Event()
    read_statuses: list[int] = []

    def read() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            while not stop.is_set():
                read_statuses.append(
                    client.get(path, headers={"Authorization": f"Bearer {READER_KEY}"}).status_code
                )

    threads = [threading.Thread(target=read, daemon=True) for _ in range(readers)]
    for t in threads:
        t.start()
    if readers:
        time.sleep(1.0)  # the readers are busy before the first delivery
    reads_before, reading_since = len(read_statuses), time.perf_counter()
    latencies: list[float] = []
    refused = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        for n in range(deliveries):
            body, headers = signed_delivery(n)
            began = time.perf_counter()
            response = client.post("/webhooks/zoom", content=body, headers=headers)
            latencies.append(time.perf_counter() - began)
            refused += response.status_code != 200
            time.sleep(0.05)
    reads_per_second = (len(read_statuses) - reads_before) / (time.perf_counter() - reading_since)
    stop.set()
    for t in threads:
        t.join()
    return latencies, refused, sum(1 for s in read_statuses if s != 200), reads_per_second


def run(url: str, bodies: list[bytes], requests: int, readers: int) -> None:
    began = time.perf_counter()
    meeting_id = store_meeting(url, bodies)
    print(f"  stored and applied {len(bodies)} deliveries in {time.perf_counter() - began:.1f} s")
    path = f"/v1/meetings/{meeting_id}/attendance"
    with serve(url) as base:
        with httpx.Client(base_url=base, timeout=120) as client:
            headers = {"Authorization": f"Bearer {READER_KEY}"}
            first = client.get(path, headers=headers)
            assert first.status_code == 200, first.text
            participants = len(first.json()["participants"])
            seconds = []
            for _ in range(requests):
                t0 = time.perf_counter()
                assert client.get(path, headers=headers).status_code == 200
                seconds.append(time.perf_counter() - t0)
        print(f"  GET attendance: {participants} participants, {len(first.content) / 1e6:.1f} MB of JSON")
        print(
            f"  over HTTP, one at a time: median {statistics.median(seconds) * 1000:.0f} ms, "
            f"min {min(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms ({requests} requests)"
        )
        if readers:
            idle, _, _, _ = acks_while_reading(base, path, 0, deliveries=ACKS)
            latencies, refused, failed_reads, rate = acks_while_reading(base, path, readers, deliveries=ACKS)
            for label, values in (
                ("no reader (baseline)", idle),
                (f"{readers} clients reading it", latencies),
            ):
                print(
                    f"  webhook acks, {label}: p50 {quantile(values, 0.5) * 1000:.1f} ms, "
                    f"p99 {quantile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"
                )
            print(
                f"  ratio p50 / p99 to the baseline: {quantile(latencies, 0.5) / quantile(idle, 0.5):.1f}x / "
                f"{quantile(latencies, 0.99) / quantile(idle, 0.99):.1f}x; "
                f"{refused} of {len(latencies)} not acknowledged; {failed_reads} reads not 200; "
                f"{rate:.1f} reads/s served meanwhile"
            )
    runtime = _runtime(url)
    try:
        steps = in_process(runtime, meeting_id)
    finally:
        runtime.close()
    before = steps["compute"] + steps["model_json"]
    after = steps["stored"] + steps["stored_json"]
    print(
        f"  in process, computed at read time (before): read + compute {steps['compute'] * 1000:.0f} ms, "
        f"JSON by the response model {steps['model_json'] * 1000:.0f} ms, total {before * 1000:.0f} ms"
    )
    print(
        f"  in process, stored record (now): read {steps['stored'] * 1000:.0f} ms, "
        f"JSON {steps['stored_json'] * 1000:.0f} ms, total {after * 1000:.0f} ms "
        f"({before / after:.0f}x faster)"
    )


def main() -> None:
    configure_logging(json_format=False, level="WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=7400)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--readers", type=int, default=0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--live", action="store_true", help="the meeting has not ended and half its participants are still in"
    )
    args = parser.parse_args()
    bodies = played_meeting(args.participants, live=args.live)
    state = "live" if args.live else "ended"
    print(f"one {state} meeting, {args.participants} participants, {len(bodies)} webhook deliveries")
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite:")
        run(f"sqlite:///{tmp}/bench.db", bodies, args.requests, args.readers)
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in args.database_url else "?"
            print("postgresql:")
            run(
                f"{args.database_url}{sep}options=-csearch_path%3D{schema}",
                bodies,
                args.requests,
                args.readers,
            )
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
