"""The receiver in front of every provider endpoint: what it stores, what it answers, and how it
bounds slow or oversized senders."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.plugin import Accept, WebhookEndpoint, WebhookRequest, WebhookVerdict
from integrations.zoom.webhook_check import KEPT_HEADERS
from service.storage.tables import webhook_deliveries
from tests.helpers_signing import signed_headers
from tests.support import RunningService, running_service
from webhooks.inbox import InboxWriter
from webhooks.receiver import BodyBudget, WebhookReceiver


@pytest.fixture
def svc(database_url: str) -> Iterator[RunningService]:
    with running_service(database_url) as running:
        yield running


def _stored_bodies(svc: RunningService) -> list[bytes]:
    with svc.runtime.db.read() as conn:
        return [bytes(b) for b in conn.execute(select(webhook_deliveries.c.body)).scalars()]


def test_a_verified_event_that_mentions_the_handshake_is_stored_not_refused(svc: RunningService) -> None:
    """Only a genuine `endpoint.url_validation` is answered instead of stored."""
    body = json.dumps(
        {
            "event": "meeting.started",
            "event_ts": 1764579600000,
            "payload": {
                "account_id": "a",
                "object": {
                    "id": "812345678",
                    "uuid": "u1==",
                    "host_id": "h",
                    "topic": "Why endpoint.url_validation matters",
                    "start_time": "2026-12-01T09:00:00Z",
                },
            },
        },
        separators=(",", ":"),
    ).encode()
    answer = svc.client.post("/webhooks/zoom", content=body, headers=signed_headers(body))
    assert answer.status_code == 200, answer.text
    assert _stored_bodies(svc) == [body]


def test_a_verified_body_that_is_not_json_is_stored_and_parked_not_refused(svc: RunningService) -> None:
    body = b"endpoint.url_validation but not JSON"
    answer = svc.client.post("/webhooks/zoom", content=body, headers=signed_headers(body))
    assert answer.status_code == 200
    svc.runtime.worker.drain()
    with svc.runtime.db.read() as conn:
        row = conn.execute(select(webhook_deliveries.c.status, webhook_deliveries.c.last_error)).one()
    assert row.status == "parked" and row.last_error.startswith("invalid_payload")


def test_a_body_that_never_finishes_is_cut_off_and_its_memory_returned(tmp_path: Path) -> None:
    with running_service(f"sqlite:///{tmp_path}/slow.db") as svc:
        host, port = svc.url.removeprefix("http://").split(":")
        budget_before = _budget(svc)
        with socket.create_connection((host, int(port))) as slow:
            slow.sendall(
                b"POST /webhooks/zoom HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n" + b"x" * 50_000
            )
            slow.settimeout(15)
            started = time.monotonic()
            answer = b""
            while chunk := slow.recv(4096):  # until the server closes the connection
                answer += chunk
        budget_after = _budget(svc)
        stored = _stored_bodies(svc)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout" in answer and b"connection: close" in answer.lower()
    assert time.monotonic() - started < 14
    assert budget_after == budget_before == 0
    assert stored == []


def _budget(svc: RunningService) -> int:
    budget = svc.app.state.webhook_body_budget
    assert isinstance(budget, BodyBudget)
    return budget.held


async def test_bodies_past_the_budget_are_turned_away_while_others_are_in_flight() -> None:
    async def accept(request: WebhookRequest) -> WebhookVerdict:
        return Accept("k")

    endpoint = WebhookEndpoint("/webhooks/x", accept, kept_headers=KEPT_HEADERS)
    budget = BodyBudget(max_bytes=1000)
    receiver = WebhookReceiver("x", endpoint, InboxWriter.__new__(InboxWriter), budget=budget, body_timeout=5)
    first_chunk_in = asyncio.Event()
    release = asyncio.Event()

    async def slow_receive() -> dict[str, object]:
        if not first_chunk_in.is_set():
            first_chunk_in.set()
            return {"type": "http.request", "body": b"a" * 900, "more_body": True}
        await release.wait()
        return {"type": "http.disconnect"}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [], "query_string": b""}
    holder = asyncio.create_task(receiver(scope, slow_receive, send))  # type: ignore[arg-type]
    await first_chunk_in.wait()
    await asyncio.sleep(0)
    assert budget.held == 900

    async def big_receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"b" * 200, "more_body": False}

    turned_away: list[dict[str, object]] = []

    async def send_away(message: dict[str, object]) -> None:
        turned_away.append(message)

    await receiver(scope, big_receive, send_away)  # type: ignore[arg-type]
    assert turned_away[0]["status"] == 503
    assert (b"retry-after", b"1") in turned_away[0]["headers"]  # type: ignore[operator]
    release.set()
    await holder
    assert budget.held == 0 and sent == []  # the first sender hung up: nothing answered, nothing kept
