"""Signed Zoom webhook ingest vs. an empty FastAPI POST route, side by side (SPEC "Speed targets").

    python -m bench.webhook_ingest [--requests N] [--concurrency C] [--rounds R]
                                   [--database-url postgresql://postgres@127.0.0.1:5432/test] [--quick]
                                   [--gc-freeze]

Each target is its own uvicorn process (one worker, identical settings) on loopback; this process
only generates load, so the client never shares the servers' GIL. The targets are:

    baseline            an empty FastAPI POST route that reads the body and answers 200
    salesmeet-sqlite    the real app (create_app(build_runtime(...))) over a temporary SQLite file
    salesmeet-postgres  the same over PostgreSQL, in a fresh schema dropped afterwards (--database-url)

Rounds are interleaved (baseline, sqlite, postgres, baseline, ...) so drift on a shared machine
hits every target alike. Every request is a distinct, freshly signed `meeting.participant_joined`
delivery, sent over persistent HTTP/1.1 connections at fixed concurrency by a minimal asyncio
client (pre-built request bytes; the client costs a fraction of what the servers do).

Durability: after the last round each salesmeet server is killed with SIGKILL (no graceful drain),
then the database must hold every delivery that was answered 2xx: 2xx'd keys ⊆ stored keys, and
the number of distinct stored keys equals the number of 2xx answers. Exit status 1 if not.

`--gc-freeze` is a what-if, not the product as shipped: every server (the baseline too) calls
`gc.collect(); gc.freeze()` once its app is built, so the full collections that run under load
no longer walk the objects created at import and start-up (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import secrets
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import create_engine, select, text

from integrations.sandbox.zoom.config import ZoomEmulatorConfig
from integrations.sandbox.zoom.webhooks import WebhookEvent, event_ts_ms, zoom_signature
from integrations.zoom.webhook import delivery_key
from service.api.app import create_app
from service.bootstrap import build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.logging import configure_logging
from service.storage.database import create_database_engine, normalise_database_url, upgrade_database
from service.storage.tables import webhook_deliveries

HOST = "127.0.0.1"
PATH = "/webhooks/zoom"
WEBHOOK_SECRET = ZoomEmulatorConfig().webhook_secret_token
P99_TARGET_MS = 50.0
THROUGHPUT_TARGET_RATIO = 1.0
SERVER_START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 600.0
# The same for every target; h11 and the asyncio loop are what the venv has (no httptools/uvloop).
UVICORN_SETTINGS: dict[str, Any] = {
    "loop": "asyncio",
    "http": "h11",
    "lifespan": "on",
    "log_level": "warning",
    "access_log": False,
}

AppKind = Literal["baseline", "salesmeet"]


# ------------------------------------------------------------------------------------ deliveries


def participant_joined_bodies(count: int, *, tag: str) -> list[bytes]:
    """`count` distinct compact-JSON deliveries shaped like Zoom's, spread over 250 meetings."""
    base = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    bodies: list[bytes] = []
    for i in range(count):
        meeting = i % 250
        joined = base + timedelta(seconds=i)
        payload = {
            "account_id": "AAAAAbbbbCCCCddddEEEE",
            "object": {
                "id": str(85_746_000_000 + meeting),
                "uuid": f"{tag}-m{meeting:04d}==",
                "host_id": "x1yCzABCDEfg23HiJKl4mN",
                "topic": f"Acme pipeline review {meeting}",
                "type": 2,
                "start_time": base.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "timezone": "Europe/Berlin",
                "duration": 30,
                "participant": {
                    "user_id": str(16_779_264 + i),
                    "user_name": f"Rep {i}",
                    "id": f"u{tag}{i:07d}",
                    "participant_uuid": str(uuid.uuid4()).upper(),
                    "email": f"rep{i}@acme.example",
                    "join_time": joined.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            },
        }
        bodies.append(WebhookEvent("meeting.participant_joined", event_ts_ms(joined), payload).body)
    return bodies


def signed_requests(bodies: Sequence[bytes], port: int) -> list[bytes]:
    """Whole HTTP/1.1 requests, signed now (well inside Zoom's 300 s window) as Zoom signs them."""
    timestamp = str(int(time.time()))
    requests: list[bytes] = []
    for body in bodies:
        head = (
            f"POST {PATH} HTTP/1.1\r\n"
            f"host: {HOST}:{port}\r\n"
            "content-type: application/json; charset=utf-8\r\n"
            "user-agent: Zoom Marketplace/1.0a\r\n"
            f"x-zm-request-timestamp: {timestamp}\r\n"
            f"x-zm-signature: {zoom_signature(WEBHOOK_SECRET, timestamp, body)}\r\n"
            f"x-zm-trackingid: {secrets.token_hex(16)}\r\n"
            f"content-length: {len(body)}\r\n"
            "\r\n"
        )
        requests.append(head.encode("ascii") + body)
    return requests


# ------------------------------------------------------------------------------------ servers


@dataclass(frozen=True)
class ServerSpec:
    name: str
    app: AppKind
    database_url: str | None = None
    gc_freeze: bool = False


def baseline_app() -> FastAPI:
    app = FastAPI()

    @app.post(PATH)
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    return app


def salesmeet_app(database_url: str) -> FastAPI:
    """The production app as `salesmeet serve --no-worker` builds it: live Zoom, no emulator thread."""
    configure_logging(json_format=True, level="WARNING")
    config = parse_config(
        {
            "public_url": "http://127.0.0.1:9",
            "company": {"name": "Acme", "internal_domains": ["acme.example"], "timezone": "Europe/Berlin"},
            "providers": {"zoom": {"enabled": True, "account_id": "bench", "client_id": "bench"}},
            "routing": {"default": "zoom"},
        }
    )
    settings = Settings(database_url=database_url).with_secrets(
        {"zoom_webhook_secret_token": WEBHOOK_SECRET, "zoom_client_secret": "unused-by-the-webhook-path"}
    )
    # The worker is left out on purpose: this measures ingest alone (see bench/README.md).
    return create_app(build_runtime(config, settings), run_worker=False)


def serve(spec: ServerSpec, port_out: Connection) -> None:
    """Child process entry: bind a free loopback port, report it, serve until signalled."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port_out.send(sock.getsockname()[1])
    port_out.close()
    if spec.app == "baseline":
        app = baseline_app()
    else:
        assert spec.database_url is not None
        app = salesmeet_app(spec.database_url)
    if spec.gc_freeze:
        gc.collect()
        gc.freeze()
    uvicorn.Server(uvicorn.Config(app, **UVICORN_SETTINGS)).run(sockets=[sock])


@dataclass
class RunningTarget:
    spec: ServerSpec
    process: multiprocessing.process.BaseProcess
    port: int
    answered_2xx: list[bytes] = field(default_factory=list)  # bodies, for the durability check
    runs: list[RunResult] = field(default_factory=list)


def start_target(spec: ServerSpec) -> RunningTarget:
    context = multiprocessing.get_context("spawn")  # a clean interpreter, like a real deployment
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=serve, args=(spec, sender), name=spec.name, daemon=True)
    process.start()
    sender.close()
    if not receiver.poll(SERVER_START_TIMEOUT_S):
        process.kill()
        raise RuntimeError(f"{spec.name}: the server process did not report a port")
    port: int = receiver.recv()
    receiver.close()
    _wait_until_answering(spec.name, port, process)
    return RunningTarget(spec, process, port)


def _wait_until_answering(name: str, port: int, process: multiprocessing.process.BaseProcess) -> None:
    # uvicorn listens only after the lifespan started (for salesmeet: the inbox writer is running).
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError(f"{name}: the server process exited with {process.exitcode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name}: the server did not start listening")


def stop_target(target: RunningTarget, *, crash: bool) -> None:
    """`crash` kills with SIGKILL, so nothing the server only held in memory can be flushed."""
    if crash:
        target.process.kill()
    else:
        target.process.terminate()
    target.process.join(10)


# ------------------------------------------------------------------------------------ load generator


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight; parses just the status."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._transport: asyncio.Transport | None = None
        self._closed: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionResetError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._closed)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        length = 0
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            line_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : line_end if line_end >= 0 else None])
        elif b"transfer-encoding" in head:
            raise RuntimeError("chunked responses are not expected from these routes")
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(int(head[9:12]))

    async def request(self, raw: bytes) -> int:
        if self._closed is not None or self._transport is None:
            raise ConnectionResetError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(port: int) -> _HttpConnection:
    _, protocol = await asyncio.get_running_loop().create_connection(_HttpConnection, HOST, port)
    return protocol


@dataclass(frozen=True)
class RunResult:
    statuses: list[int]  # per request: HTTP status, or 0 when the connection failed
    latencies_ns: list[int]
    elapsed_s: float


async def drive(port: int, requests: Sequence[bytes], concurrency: int) -> RunResult:
    """Send every request once, `concurrency` at a time, each connection one request at a time."""
    connections = [await _connect(port) for _ in range(concurrency)]
    statuses = [0] * len(requests)
    latencies = [0] * len(requests)
    indices = iter(range(len(requests)))  # shared: each worker takes the next unsent request

    async def worker(connection: _HttpConnection) -> None:
        for i in indices:
            started = time.perf_counter_ns()
            try:
                statuses[i] = await connection.request(requests[i])
            except ConnectionError:
                statuses[i] = 0
                connection.close()
                connection = await _connect(port)
            latencies[i] = time.perf_counter_ns() - started
        connection.close()

    started = time.perf_counter()
    async with asyncio.timeout(RUN_TIMEOUT_S):
        await asyncio.gather(*(worker(c) for c in connections))
    return RunResult(statuses, latencies, time.perf_counter() - started)


def run_load(target: RunningTarget, bodies: Sequence[bytes], concurrency: int) -> RunResult:
    requests = signed_requests(bodies, target.port)
    result = asyncio.run(drive(target.port, requests, concurrency))
    target.answered_2xx += [b for b, s in zip(bodies, result.statuses, strict=True) if 200 <= s < 300]
    return result


# ------------------------------------------------------------------------------------ figures


@dataclass(frozen=True)
class Summary:
    name: str
    requests: int
    ok: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    round_rps: tuple[float, ...]


def _percentile(sorted_values: Sequence[int], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index] / 1e6


def summarise(name: str, runs: Sequence[RunResult]) -> Summary:
    latencies = sorted(ns for run in runs for ns in run.latencies_ns)
    requests = sum(len(run.statuses) for run in runs)
    ok = sum(1 for run in runs for s in run.statuses if 200 <= s < 300)
    elapsed = sum(run.elapsed_s for run in runs)
    return Summary(
        name=name,
        requests=requests,
        ok=ok,
        rps=requests / elapsed,
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        p99_ms=_percentile(latencies, 0.99),
        max_ms=latencies[-1] / 1e6,
        round_rps=tuple(len(run.statuses) / run.elapsed_s for run in runs),
    )


def print_summaries(summaries: Sequence[Summary]) -> None:
    print(
        f"{'target':<20} {'requests':>8} {'2xx':>8} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7}  req/s per round"
    )
    for s in summaries:
        rounds = " ".join(f"{r:.0f}" for r in s.round_rps)
        print(
            f"{s.name:<20} {s.requests:>8} {s.ok:>8} {s.rps:>8.0f} {s.p50_ms:>7.1f} {s.p95_ms:>7.1f} "
            f"{s.p99_ms:>7.1f} {s.max_ms:>7.1f}  {rounds}"
        )
    baseline = summaries[0]
    for s in summaries[1:]:
        ratio = s.rps / baseline.rps
        # The median of per-round ratios is less sensitive to one noisy round than the totals.
        per_round = statistics.median(r / b for r, b in zip(s.round_rps, baseline.round_rps, strict=True))
        met = ratio >= THROUGHPUT_TARGET_RATIO and s.p99_ms < P99_TARGET_MS and s.ok == s.requests
        print(
            f"{s.name}/baseline throughput: {ratio:.2f}x (median per round {per_round:.2f}x); "
            f"target >= {THROUGHPUT_TARGET_RATIO:.1f}x and p99 < {P99_TARGET_MS:.0f} ms: "
            f"{'met' if met else 'NOT met'}"
        )


# ------------------------------------------------------------------------------------ durability


def check_durability(target: RunningTarget) -> bool:
    """Run after SIGKILL: every 2xx'd delivery must be in webhook_deliveries, and nothing else."""
    assert target.spec.database_url is not None
    engine = create_database_engine(target.spec.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            stored = set(
                conn.execute(
                    select(webhook_deliveries.c.delivery_key).where(webhook_deliveries.c.provider == "zoom")
                ).scalars()
            )
    finally:
        engine.dispose()
    answered = {delivery_key(body) for body in target.answered_2xx}
    missing = answered - stored
    durable = not missing and len(stored) == len(target.answered_2xx)
    print(
        f"{target.spec.name} durability after SIGKILL: {len(target.answered_2xx)} answered 2xx, "
        f"{len(stored)} distinct keys stored, {len(missing)} missing: {'OK' if durable else 'FAILED'}"
    )
    return durable


# ------------------------------------------------------------------------------------ databases


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="salesmeet-bench-") as directory:
        url = f"sqlite:///{directory}/salesmeet.db"
        _migrate(url)
        yield url


@contextmanager
def postgres_schema(server_url: str) -> Iterator[str]:
    """A fresh schema on `server_url` that the app's connections land in; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_database_url(server_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in server_url else "?"
        url = f"{server_url}{separator}options=-csearch_path%3D{schema}"
        _migrate(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = create_database_engine(url, pool_size=1)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------ main


@dataclass(frozen=True)
class Options:
    requests: int
    concurrency: int
    rounds: int
    warmup: int
    database_url: str | None
    gc_freeze: bool


def parse_options(argv: Sequence[str] | None = None) -> Options:
    description = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_ingest", description=description)
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests per target")
    parser.add_argument("--concurrency", type=int, default=64, help="connections, 1 request in flight each")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds to split the requests in")
    parser.add_argument("--database-url", help="also measure over PostgreSQL (a fresh schema, dropped after)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 requests in one round")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="what-if: gc.freeze() in every server after start-up (not what the product does today)",
    )
    args = parser.parse_args(argv)
    requests, rounds = (1_000, 1) if args.quick else (args.requests, args.rounds)
    if requests < rounds or args.concurrency < 1 or rounds < 1:
        parser.error("need --requests >= --rounds >= 1 and --concurrency >= 1")
    warmup = min(2_000, requests // 5)
    return Options(requests, args.concurrency, rounds, warmup, args.database_url, args.gc_freeze)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    with ExitStack() as stack:
        freeze = options.gc_freeze
        specs = [ServerSpec("baseline", "baseline", gc_freeze=freeze)]
        sqlite_url = stack.enter_context(sqlite_database())
        specs.append(ServerSpec("salesmeet-sqlite", "salesmeet", sqlite_url, gc_freeze=freeze))
        if options.database_url:
            url = stack.enter_context(postgres_schema(options.database_url))
            specs.append(ServerSpec("salesmeet-postgres", "salesmeet", url, gc_freeze=freeze))
        targets = [start_target(spec) for spec in specs]
        try:
            print(
                f"{options.requests} signed deliveries per target in {options.rounds} interleaved round(s), "
                f"concurrency {options.concurrency}, {options.warmup} warm-up requests each; "
                f"uvicorn {uvicorn.__version__} (h11, asyncio), 1 process per target, "
                f"Python {sys.version.split()[0]}"
                + ("; what-if: gc.freeze() after start-up in every server" if freeze else "")
            )
            for target in targets:
                run_load(target, participant_joined_bodies(options.warmup, tag="warmup"), options.concurrency)
            per_round = options.requests // options.rounds
            for round_index in range(options.rounds):
                bodies = participant_joined_bodies(per_round, tag=f"r{round_index}")
                for target in targets:
                    target.runs.append(run_load(target, bodies, options.concurrency))
            print_summaries([summarise(t.spec.name, t.runs) for t in targets])
        finally:
            for target in targets:
                stop_target(target, crash=target.spec.app == "salesmeet")
        durable = [check_durability(t) for t in targets if t.spec.app == "salesmeet"]
    return 0 if all(durable) else 1


if __name__ == "__main__":
    sys.exit(main())
