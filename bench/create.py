"""1,000 meeting creations through the API against the Zoom emulator with 100 ms of injected latency.

    python -m bench.create [--meetings 1000] [--latency-ms 100] [--max-concurrency 8]
                           [--clients 32] [--zoom-qps N] [--database-url URL]

- **Server**: the real `salesmeet serve --no-worker` command as a child process (production stack:
  uvloop + httptools), on a fresh SQLite file (or a fresh PostgreSQL schema with --database-url),
  migrated with `salesmeet db upgrade` first. Zoom is configured as a live (non-sandbox) account
  whose `token_url` and `api_base_url` point at the emulator, so the server runs no emulator thread.
- **Zoom**: the emulator runs in this process on a loopback port, with `--latency-ms` added to
  every /v2 call (its fault injection). 20 reps in the internal domain organise the meetings (a
  Zoom user may create 100 meetings a day). `--zoom-qps` turns on the emulator's per-second limit
  (off by default: the figure is salesmeet's own overhead; with it, the 429s show).
- **Load**: `--clients` threads POST /v1/meetings, each a distinct `external_ref`, so salesmeet's
  `providers.zoom.max_concurrency` is what bounds the calls in flight to Zoom.
- **Figures**: wall time of the 1,000 creates against the ideal for that concurrency,
  ceil(Zoom calls / max_concurrency) x latency (target <= 1.2x), where the calls are the meetings
  and registrants Zoom holds afterwards (a customer meeting is two calls: the meeting, then its
  external attendee's registrant); the 429s Zoom answered; the server's RSS
  when idle (ready, before the load) and at its peak (VmHWM, and the highest sample taken every
  50 ms during the load; target < 200 MB). Linux only (/proc).

Checks correctness, not speed: exits 1 unless every create answered 201 (or, after the client
retried a 5xx with the same external_ref, 200) and Zoom holds exactly
the meetings salesmeet recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, text

from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom import ZoomEmulatorConfig
from integrations.sandbox.zoom.app import create_zoom_emulator, emulator_state

SALESMEET = str(Path(sys.executable).with_name("salesmeet"))
CRM_KEY = "bench-crm-key"
CLIENT_SECRET = "bench-zoom-client-secret"
WEBHOOK_SECRET = "bench-zoom-webhook-secret"
REPS = 20
START_TIMEOUT_S = 60
CRM_ATTEMPTS = 5


@dataclass(frozen=True)
class Options:
    meetings: int
    latency_ms: int
    max_concurrency: int
    clients: int
    zoom_qps: int | None
    database_url: str | None


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.create", description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--max-concurrency", type=int, default=8, help="providers.zoom.max_concurrency")
    parser.add_argument("--clients", type=int, default=32, help="concurrent API callers")
    parser.add_argument("--zoom-qps", type=int, default=None, help="the emulator's per-second limit")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (else SQLite)")
    args = parser.parse_args(argv)
    if args.latency_ms < 1 or args.max_concurrency < 1 or args.clients < 1 or args.meetings < 1:
        parser.error("--latency-ms, --max-concurrency, --clients and --meetings must be at least 1")
    return Options(
        args.meetings, args.latency_ms, args.max_concurrency, args.clients, args.zoom_qps, args.database_url
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` memory line in KiB (VmRSS: now; VmHWM: the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh SQLite file, or a fresh schema on the PostgreSQL server (dropped afterwards)."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="bench-create-") as directory:
            yield f"sqlite:///{directory}/salesmeet.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def write_config(directory: Path, zoom_url: str, max_concurrency: int) -> Path:
    config = {
        "public_url": "http://127.0.0.1:9",
        "company": {"name": "Acme", "internal_domains": ["acme.example"], "timezone": "Europe/Berlin"},
        "providers": {
            "zoom": {
                "enabled": True,
                "account_id": "sandbox-account",
                "client_id": "sandbox-client-id",
                "token_url": f"{zoom_url}/oauth/token",
                "api_base_url": f"{zoom_url}/v2",
                "max_concurrency": max_concurrency,
                "retry_base_delay_seconds": 0.1,
                "max_retry_wait_seconds": 2,
            }
        },
        "routing": {"default": "zoom"},
        "api_keys": [
            {"name": "crm", "scope": "crm", "hash": "sha256:" + hashlib.sha256(CRM_KEY.encode()).hexdigest()}
        ],
    }
    path = directory / "salesmeet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Server:
    """`salesmeet serve --no-worker` as a child process."""

    def __init__(self, config: Path, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SALESMEET_DATABASE_URL": database_url,
            "SALESMEET_ZOOM_CLIENT_SECRET": CLIENT_SECRET,
            "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN": WEBHOOK_SECRET,
            "SALESMEET_LOG_FORMAT": "json",
            "SALESMEET_LOG_LEVEL": "WARNING",
        }
        subprocess.run([SALESMEET, "db", "upgrade"], env=env, check=True, capture_output=True)
        command = [SALESMEET, "serve", "--no-worker", "--config", str(config), "--port", str(self.port)]
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("serve did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.highest_kib = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.highest_kib = max(self.highest_kib, rss_kib(self.pid, "VmRSS"))


def create_all(
    url: str, meetings: int, clients: int
) -> tuple[float, Counter[int], Counter[int], dict[str, str]]:
    """POST every create, again after a 5xx (up to CRM_ATTEMPTS times); returns (wall seconds,
    final statuses, statuses that were retried, external id -> provider meeting id)."""
    statuses: Counter[int] = Counter()
    retried: Counter[int] = Counter()
    recorded: dict[str, str] = {}
    lock = threading.Lock()
    numbers = iter(range(meetings))

    def caller() -> None:
        with httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {CRM_KEY}"}
        ) as client:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                for attempt in range(CRM_ATTEMPTS):
                    response = client.post(
                        "/v1/meetings",
                        json={
                            "external_ref": {"system": "bench", "id": f"deal-{number}"},
                            "title": f"Discovery call {number}",
                            "start": "2027-01-11T10:00:00+01:00",
                            "duration_minutes": 30,
                            "timezone": "Europe/Berlin",
                            "organizer": {"email": f"rep{number % REPS}@acme.example"},
                            "attendees": [{"email": f"buyer{number}@customer.example"}],
                        },
                    )
                    if response.status_code < 500 or attempt == CRM_ATTEMPTS - 1:
                        break
                    # As a CRM does: the same external_ref again, which finishes what was started.
                    with lock:
                        retried[response.status_code] += 1
                    time.sleep(float(response.headers.get("retry-after", "1")))
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code in (200, 201):  # 200: a retry found it made
                        recorded[f"deal-{number}"] = response.json()["provider_meeting_id"]

    threads = [threading.Thread(target=caller) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses, retried, recorded


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    emulator = create_zoom_emulator(
        ZoomEmulatorConfig(
            client_secret=CLIENT_SECRET,
            webhook_secret_token=WEBHOOK_SECRET,
            licensed_domains=("acme.example",),
            per_second_limit=options.zoom_qps,
        )
    )
    zoom = emulator_state(emulator)
    latency = options.latency_ms / 1000
    zoom.faults.latency_seconds = latency
    with (
        serve_in_thread(emulator) as zoom_server,
        database(options.database_url) as database_url,
        tempfile.TemporaryDirectory(prefix="bench-create-") as workdir,
    ):
        log = Path(workdir) / "serve.log"
        config = write_config(Path(workdir), zoom_server.url, options.max_concurrency)
        server = Server(config, database_url, log)
        try:
            time.sleep(1.0)  # let start-up settle before reading the idle figure
            idle_kib = rss_kib(server.process.pid, "VmRSS")
            sampler = RssSampler(server.process.pid)
            sampler.start()
            wall, statuses, retried, recorded = create_all(server.url, options.meetings, options.clients)
            sampler.done.set()
            sampler.join()
            peak_kib = rss_kib(server.process.pid, "VmHWM")
        finally:
            server.stop()
        with zoom.lock:
            on_zoom = {str(m.id) for m in zoom.meetings.values()}
            refused = Counter(zoom.refused)
            # What salesmeet asked of Zoom: each meeting, and each external attendee's registrant
            # (the emulator's request log keeps only the last 1,000 calls, so it is not used here).
            calls = Counter(
                {
                    "meeting creates": len(zoom.meetings),
                    "registrant adds": sum(len(m.registrants) for m in zoom.meetings.values()),
                }
            )

    # Every Zoom call waits `latency`, and at most max_concurrency creates are in flight: the ideal
    # is the calls made (a create with an external attendee is two: the meeting, then its
    # registrant), in waves of max_concurrency.
    zoom_calls = sum(calls.values())
    ideal = math.ceil(zoom_calls / options.max_concurrency) * latency
    if options.zoom_qps:  # Zoom answers at most that many calls a second
        ideal = max(ideal, zoom_calls / options.zoom_qps)
    database_name = "postgresql" if options.database_url else "sqlite"
    print(
        f"bench.create: {options.meetings} creates, {options.clients} API clients, "
        f"providers.zoom.max_concurrency={options.max_concurrency}, Zoom latency {options.latency_ms} ms, "
        f"Zoom per-second limit {options.zoom_qps or 'off'}, {database_name}"
    )
    print(
        f"  answers: {dict(sorted(statuses.items()))}; "
        f"answers retried by the client (as a CRM does): {dict(sorted(retried.items()))}"
    )
    ratio = wall / ideal
    verdict = "met" if ratio <= 1.2 else "NOT met"
    print(
        f"  Zoom API calls: {zoom_calls} ({zoom_calls / options.meetings:.2f} per create: "
        f"{', '.join(f'{n} {m}' for m, n in sorted(calls.items()))})"
    )
    print(
        f"  wall time {wall:.2f} s; ideal max(ceil({zoom_calls}/{options.max_concurrency}) x "
        f"{latency:.3f} s, calls / Zoom's per-second limit) = {ideal:.2f} s; "
        f"ratio {ratio:.2f}x (target <= 1.2x: {verdict}); "
        f"{options.meetings / wall:.0f} creates/s"
    )
    print(
        f"  429s answered by Zoom: {refused.get(429, 0)}; "
        f"other refusals: {dict(refused - Counter({429: refused[429]}))}"
    )
    rss_verdict = "met" if peak_kib < 200 * 1024 else "NOT met"
    print(
        f"  server RSS: idle {idle_kib / 1024:.0f} MB; peak {peak_kib / 1024:.0f} MB (VmHWM), "
        f"highest sample during the load {sampler.highest_kib / 1024:.0f} MB (target < 200 MB: {rss_verdict})"
    )
    answered = statuses[200] + statuses[201] == options.meetings
    correct = answered and len(recorded) == options.meetings and set(recorded.values()) == on_zoom
    print(f"  every create answered 201 or 200 and Zoom holds exactly the recorded meetings: {correct}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
