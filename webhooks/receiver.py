"""POST /webhooks/<provider>: run the provider's check on the raw request, then store or answer.

One receiver serves every provider's endpoints (`integrations.plugin.WebhookEndpoint`). The
provider's check runs first, on the raw bytes; what it accepts is committed through the inbox's
group commit before the 2xx, and nothing it refuses is stored.

Each endpoint is a plain ASGI app mounted as a route, not a FastAPI path operation: a join storm
pays for routing, the check and the commit, not for dependency solving and Request/Response
objects (see bench/webhook_ingest.py). The app's middleware and error handlers still apply: an
exception here (a failed commit, an oversized body) becomes the usual JSON 5xx/413 answer.

Bodies are bounded in time and in memory: a body must arrive within `body_timeout` seconds, and
while more than `max_bytes_in_flight` bytes of unfinished bodies are held, new requests are
turned away with 503, so slow senders cannot hold the process's memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Protocol

import structlog
from fastapi import APIRouter
from prometheus_client import Counter
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from integrations.plugin import Accept, Answer, Reject, WebhookEndpoint, WebhookRequest
from service.storage.inbox_repo import Delivery

log = structlog.get_logger("salesmeet.webhooks")

WEBHOOKS = Counter(
    "salesmeet_webhooks_total", "Webhook deliveries by provider and outcome", ["provider", "outcome"]
)
BODY_TIMEOUT_SECONDS = 10.0
MAX_BODY_BYTES = 1024 * 1024
MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024

_EMPTY_OK = {"type": "http.response.body", "body": b""}


class DeliveryStore(Protocol):
    """Where accepted deliveries go: the webhook inbox, or a CRM's deliveries (`webhooks/crm.py`).
    `store` returns once the delivery is committed: True when new, False for a duplicate."""

    async def store(self, delivery: Delivery) -> bool: ...


class BodyBudget:
    """Bytes of unfinished request bodies held across every webhook endpoint of the process."""

    def __init__(self, max_bytes: int = MAX_BYTES_IN_FLIGHT) -> None:
        self.max_bytes = max_bytes
        self.held = 0


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class WebhookReceiver:
    """The ASGI app behind one provider endpoint (the route answers 405 to other methods)."""

    def __init__(
        self,
        provider: str,
        endpoint: WebhookEndpoint,
        inbox: DeliveryStore,
        *,
        budget: BodyBudget | None = None,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.path = endpoint.path
        self._max_body_bytes = max_body_bytes
        self._provider = provider
        self._endpoint = endpoint
        self._inbox = inbox
        self.budget = budget or BodyBudget()
        self._body_timeout = body_timeout
        self._kept = frozenset(name.encode("latin-1") for name in endpoint.kept_headers)
        self._stored = WEBHOOKS.labels(provider, "stored")
        self._duplicate = WEBHOOKS.labels(provider, "duplicate")
        self._ok_starts = {
            status: {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
            for status in (200, 202, 204)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._check_declared_length(scope)
            body = await self._read_body(receive)
        except _Refused as refused:
            WEBHOOKS.labels(self._provider, refused.code).inc()
            await _send_error(send, refused.status, refused.code, refused.message, refused.retry_after)
            return
        if body is None:
            return  # the sender hung up: nobody is left to answer, and nothing was accepted
        query = scope.get("query_string", b"") if self._endpoint.reads_query else b""
        headers = self._kept_headers(scope)
        verdict = await self._endpoint.check(WebhookRequest(body, headers, query))
        if isinstance(verdict, Reject):
            WEBHOOKS.labels(self._provider, verdict.code).inc()
            log.warning("webhook.rejected", provider=self._provider, code=verdict.code)
            await _send_error(send, verdict.status, verdict.code, verdict.message)
        elif isinstance(verdict, Answer):
            WEBHOOKS.labels(self._provider, "answered").inc()
            await _send(send, verdict.status, verdict.body, verdict.content_type.encode("latin-1"))
        else:
            await self._store(verdict, body, headers, send)

    async def _store(self, verdict: Accept, body: bytes, headers: dict[str, str], send: Send) -> None:
        stored_headers = {
            name: value for name, value in headers.items() if name not in self._endpoint.credential_headers
        }
        delivery = Delivery(
            self._provider,
            verdict.delivery_key,
            body,
            stored_headers,
            needs_resolution=verdict.needs_resolution,
        )
        # 2xx only once store() returns, i.e. after the delivery's batch committed.
        try:
            is_new = await self._inbox.store(delivery)
        except Exception as exc:  # nothing was accepted: the provider retries, and nothing is lost
            WEBHOOKS.labels(self._provider, "store_failed").inc()
            log.error("webhook.store_failed", provider=self._provider, error=type(exc).__name__)
            await _send_error(send, 503, "store_failed", "the delivery could not be stored; retry", 1)
            return
        (self._stored if is_new else self._duplicate).inc()
        start = self._ok_starts.get(verdict.status) or {
            "type": "http.response.start",
            "status": verdict.status,
            "headers": [(b"content-length", b"0")],
        }
        await send(start)
        await send(_EMPTY_OK)

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        held = 0
        budget = self.budget
        try:
            async with asyncio.timeout(self._body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk: bytes = message.get("body", b"")
                    if held + len(chunk) > self._max_body_bytes:
                        raise _Refused(
                            413, "payload_too_large", f"request body over {self._max_body_bytes} bytes"
                        )
                    if chunk:
                        if budget.held + len(chunk) > budget.max_bytes:
                            raise _Refused(
                                503, "busy", "too many webhook bodies in flight; retry", retry_after=1
                            )
                        budget.held += len(chunk)
                        held += len(chunk)
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except TimeoutError:
            raise _Refused(408, "body_timeout", "the request body did not arrive in time") from None
        finally:
            budget.held -= held

    def _check_declared_length(self, scope: Scope) -> None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self._max_body_bytes:
                    raise _Refused(
                        413, "payload_too_large", f"request body over {self._max_body_bytes} bytes"
                    )
                return

    def _kept_headers(self, scope: Scope) -> dict[str, str]:
        """The headers worth keeping; ASGI names are lower-case, and the first one wins."""
        kept: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            # Compared as bytes: only the few kept headers are decoded.
            if raw_name in self._kept:
                kept.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
        return kept


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(
    send: Send, status: int, code: str, message: str, retry_after: int | None = None
) -> None:
    body = json.dumps({"code": code, "message": message, "details": []}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode("ascii")))
    if status >= 500 or status == 408:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def webhook_receivers(
    endpoints: Iterable[tuple[str, WebhookEndpoint]],
    inbox: DeliveryStore,
    *,
    budget: BodyBudget | None = None,
) -> list[WebhookReceiver]:
    """One receiver per (provider, endpoint); every endpoint shares one body budget."""
    shared = budget or BodyBudget()
    return [WebhookReceiver(provider, endpoint, inbox, budget=shared) for provider, endpoint in endpoints]


def webhook_router(receivers: Iterable[WebhookReceiver]) -> APIRouter:
    """The receivers as routes: what the front door does not take (another method) gets the app's 405."""
    router = APIRouter()
    for receiver in receivers:
        # An ASGI app as the endpoint makes Starlette call it as is, without request_response().
        router.routes.append(Route(receiver.path, receiver, methods=["POST"], include_in_schema=False))
    return router


class WebhookFrontDoor:
    """Outermost middleware: a POST to a webhook path goes straight to its receiver.

    A join storm is the hot path; it skips the API's middleware (keys, body limits) and routing, whose
    work the receiver does itself, in less. Everything else passes through to the app.
    """

    def __init__(self, app: ASGIApp, receivers: Iterable[WebhookReceiver]) -> None:
        self._app = app
        self._by_path = {receiver.path: receiver for receiver in receivers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            receiver = self._by_path.get(scope["path"])
            if receiver is not None:
                await receiver(scope, receive, send)
                return
        await self._app(scope, receive, send)
