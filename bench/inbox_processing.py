"""How fast the worker turns stored webhook deliveries into attendance records.

    python -m bench.inbox_processing [--meetings 50] [--guests 40] [--database-url URL]

Builds real Zoom webhook bodies with the emulator's meeting player (no network), stores them in
the inbox, then times `Worker.drain()`: decode, deduplicate, insert events, recompute records.
Prints deliveries/s for SQLite (a temp file) and, with --database-url, for that database too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from integrations.sandbox.zoom import End, Join, Leave, MeetingPlayer, ScriptPerson, Start, ZoomEmulatorConfig
from integrations.sandbox.zoom.config import ZoomUser
from integrations.sandbox.zoom.state import ZoomEmulatorState
from integrations.zoom.webhook import delivery_key
from integrations.zoom.webhook_check import decode_zoom_delivery
from service.domain.meeting import CompanyDomains
from service.logging import configure_logging
from service.storage import inbox_repo
from service.storage.database import Database, create_database_engine, upgrade_database
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.record_attendance import AttendancePolicy
from service.worker import Worker

HOST = ZoomUser("host@acme.example", "u_host0001", "Hanna", "Host")


def build_bodies(meetings: int, guests: int) -> list[bytes]:
    state = ZoomEmulatorState(ZoomEmulatorConfig(users=(HOST,)))
    player = MeetingPlayer(state)
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    bodies: list[bytes] = []
    for m in range(meetings):
        begin = start + timedelta(hours=m)
        meeting_id = state.add_meeting(HOST, topic=f"Call {m}", start_time=begin).id
        people = [ScriptPerson(f"P{m}-{g}", f"p{g}@customer{m % 7}.example") for g in range(guests)]
        script = [Start(begin), Join(begin, ScriptPerson("Hanna Host", HOST.email, HOST.id))]
        script += [Join(begin + timedelta(seconds=10 + i), p) for i, p in enumerate(people)]
        script += [Leave(begin + timedelta(minutes=20, seconds=i), p) for i, p in enumerate(people)]
        script += [Join(begin + timedelta(minutes=25, seconds=i), p) for i, p in enumerate(people)]
        script.append(End(begin + timedelta(minutes=50)))
        bodies += [e.body for e in player.play(meeting_id, script).events]
    return bodies


def run(url: str, bodies: list[bytes]) -> float:
    db = Database(create_database_engine(url))
    upgrade_database(db.engine)
    now = datetime.now(UTC)
    with db.write() as conn:
        deliveries = [inbox_repo.Delivery("zoom", delivery_key(b), b, {}) for b in bodies]
        for i in range(0, len(deliveries), 1000):
            inbox_repo.insert_deliveries(conn, deliveries[i : i + 1000], now)
    policy = AttendancePolicy(CompanyDomains.of(["acme.example"]), 60, "UTC", timedelta(minutes=2))
    worker = Worker(db, ProviderRegistry({}), {"zoom": decode_zoom_delivery}, policy, batch_size=200)
    began = time.perf_counter()
    handled = worker.drain()
    elapsed = time.perf_counter() - began
    assert handled == len(bodies), (handled, len(bodies))
    db.dispose()
    return elapsed


def main() -> None:
    configure_logging(json_format=False, level="WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meetings", type=int, default=50)
    parser.add_argument("--guests", type=int, default=40)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    bodies = build_bodies(args.meetings, args.guests)
    print(f"{len(bodies)} deliveries over {args.meetings} meetings of {args.guests + 1} people")
    with tempfile.TemporaryDirectory() as tmp:
        elapsed = run(f"sqlite:///{tmp}/bench.db", bodies)
        print(f"sqlite:     {len(bodies) / elapsed:8.0f} deliveries/s ({elapsed:.2f} s)")
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in args.database_url else "?"
            elapsed = run(f"{args.database_url}{sep}options=-csearch_path%3D{schema}", bodies)
            print(f"postgresql: {len(bodies) / elapsed:8.0f} deliveries/s ({elapsed:.2f} s)")
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
