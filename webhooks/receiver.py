"""POST /webhooks/<provider>: run the provider's check on the raw request, then store or answer.

One receiver serves every provider's endpoints (`integrations.plugin.WebhookEndpoint`). The
provider's check runs first, on the raw bytes; what it accepts is committed through the inbox's
group commit before the 2xx, and nothing it refuses is stored.

Each endpoint is a plain ASGI app, not a FastAPI path operation, and the app sends a POST to a
webhook path straight to it, before any middleware (`service.api.app`): a join storm pays for the
check and the commit, not for dependency solving, Request/Response objects and middleware layers
(see bench/webhook_ingest.py). So the receiver answers its own errors, in the API's shape: a
failed commit is a 503 with `Retry-After`, anything unexpected a 500, logged once.
For any other method the path is an ordinary route, which answers 405.

Bodies are bounded in time and in memory: a body must arrive within `body_timeout` seconds, and
while more than `max_bytes_in_flight` bytes of unfinished bodies are held, new requests are
turned away with 503, so slow senders cannot hold the process's memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any, Protocol

import structlog
from fastapi import APIRouter
from prometheus_client import Counter
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

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


class _BodyDeadlines:
    """The body reads in progress and their deadlines; a sweep cancels the reads that are late.

    `asyncio.timeout()` around every read puts a timer in the loop's heap and takes it out again:
    tens of microseconds a request, for a timer that almost never fires. Here a read costs a dict
    entry, and one timer (while reads are in progress) sweeps ten times per timeout: a late body
    is cut off between `timeout` and 1.1 x `timeout` after its read began.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._reads: dict[asyncio.Task[Any], float] = {}
        self._cut_off: set[asyncio.Task[Any]] = set()
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> asyncio.Task[Any]:
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        self._reads[task] = loop.time() + self.timeout
        if self._sweep_loop is not loop:
            self._sweep_loop = loop
            loop.call_later(self.timeout / 10, self._sweep, loop)
        return task

    def leave(self, task: asyncio.Task[Any]) -> None:
        del self._reads[task]
        self._cut_off.discard(task)

    def cut_off(self, task: asyncio.Task[Any]) -> bool:
        """True when the sweep cancelled `task` (its read was late), and the cancellation is
        then consumed; False for any other cancellation, which must propagate."""
        if task not in self._cut_off:
            return False
        self._cut_off.discard(task)
        task.uncancel()
        return True

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._reads.items()):
            if deadline <= now and task not in self._cut_off and task.get_loop() is loop:
                self._cut_off.add(task)
                task.cancel()
        if any(task.get_loop() is loop for task in self._reads):
            loop.call_later(self.timeout / 10, self._sweep, loop)
        elif self._sweep_loop is loop:
            self._sweep_loop = None


class _Responded:
    """`send`, remembering whether the response has started (no second answer may follow)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = True
        await self.send(message)


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
        self._deadlines = _BodyDeadlines(body_timeout)
        self._kept = frozenset(name.encode("latin-1") for name in endpoint.kept_headers)
        self._stored = WEBHOOKS.labels(provider, "stored")
        self._duplicate = WEBHOOKS.labels(provider, "duplicate")
        self._ok_starts = {
            status: {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
            for status in (200, 202, 204)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Dispatched before the app's error middleware (see service.api.app): an unexpected error
        # is answered here, once, with the API's 500 shape, and logged once.
        responded = _Responded(send)
        try:
            await self._receive(scope, receive, responded)
        except Exception as exc:
            log.error(
                "webhook.unhandled_error", provider=self._provider, error=type(exc).__name__, exc_info=exc
            )
            if not responded.started:
                await _send_error(
                    send, 500, "internal_error", "an unexpected error occurred; it has been logged"
                )

    async def _receive(self, scope: Scope, receive: Receive, send: Send) -> None:
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
            if verdict.body is not None:
                await _send(send, verdict.status, verdict.body, verdict.content_type.encode("latin-1"))
            else:
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
            body if verdict.stored_body is None else verdict.stored_body,
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
        if verdict.reply is not None:
            await _send(send, verdict.status, verdict.reply, verdict.reply_content_type.encode("latin-1"))
            return
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
        task = self._deadlines.enter()
        try:
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
                        raise _Refused(503, "busy", "too many webhook bodies in flight; retry", retry_after=1)
                    budget.held += len(chunk)
                    held += len(chunk)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except asyncio.CancelledError:
            if self._deadlines.cut_off(task):
                raise _Refused(408, "body_timeout", "the request body did not arrive in time") from None
            raise
        finally:
            self._deadlines.leave(task)
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
