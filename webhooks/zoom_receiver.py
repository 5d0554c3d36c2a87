"""POST /webhooks/zoom: verify the signature over the raw bytes first, then store or answer the handshake.

The hot path does no JSON parsing for ordinary events: the delivery is keyed by a hash of its raw
body and committed through the inbox's group commit; normalisation happens in the worker.

The endpoint is a plain ASGI app mounted as a route, not a FastAPI path operation: a join storm
pays for routing, the HMAC and the commit, not for dependency solving and Request/Response
objects (see bench/webhook_ingest.py). The app's middleware and error handlers still apply: an
exception here (a failed commit, an oversized body) becomes the usual JSON 5xx/413 answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service.storage.inbox_repo import Delivery
from webhooks.inbox import InboxWriter
from webhooks.zoom import (
    ZoomUrlValidation,
    ZoomVerificationError,
    ZoomWebhookError,
    delivery_key,
    parse_zoom_event,
    url_validation_response,
    verify_zoom_request,
)

log = structlog.get_logger("salesmeet.webhooks.zoom")

WEBHOOKS = Counter(
    "salesmeet_webhooks_total", "Webhook deliveries by provider and outcome", ["provider", "outcome"]
)
PATH = "/webhooks/zoom"
_URL_VALIDATION_MARKER = b"endpoint.url_validation"
_KEPT_HEADERS = frozenset({b"x-zm-request-timestamp", b"x-zm-signature", b"x-zm-trackingid", b"user-agent"})
_OK_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_OK_BODY = {"type": "http.response.body", "body": b""}


class ZoomWebhookEndpoint:
    """The ASGI app behind POST /webhooks/zoom (the route answers 405 to other methods)."""

    def __init__(
        self,
        inbox: InboxWriter,
        secret_tokens: Sequence[str],
        *,
        tolerance_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inbox = inbox
        self._secrets = tuple(secret_tokens)
        self._tolerance_seconds = tolerance_seconds
        self._clock = clock
        self._stored = WEBHOOKS.labels("zoom", "stored")
        self._duplicate = WEBHOOKS.labels("zoom", "duplicate")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return  # the sender hung up: nobody is left to answer, and nothing was accepted
        headers = _kept_headers(scope)
        try:
            verify_zoom_request(
                body=body,
                headers=headers,
                secret_tokens=self._secrets,
                now=self._clock(),
                tolerance_seconds=self._tolerance_seconds,
            )
        except ZoomVerificationError as exc:
            WEBHOOKS.labels("zoom", exc.code).inc()
            log.warning("webhook.zoom.signature_rejected", code=exc.code)
            await _error(exc, 401)(scope, receive, send)
            return
        if _URL_VALIDATION_MARKER in body:
            try:
                envelope = parse_zoom_event(body)
            except ZoomWebhookError as exc:
                WEBHOOKS.labels("zoom", exc.code).inc()
                await _error(exc, 400)(scope, receive, send)
                return
            if isinstance(envelope, ZoomUrlValidation):
                WEBHOOKS.labels("zoom", "url_validation").inc()
                log.info("webhook.zoom.url_validated")
                await JSONResponse(url_validation_response(envelope.payload, self._secrets[0]))(
                    scope, receive, send
                )
                return
        # 200 only once store() returns, i.e. after the delivery's batch committed.
        is_new = await self._inbox.store(Delivery("zoom", delivery_key(body), body, headers))
        (self._stored if is_new else self._duplicate).inc()
        await send(_OK_START)
        await send(_OK_BODY)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _kept_headers(scope: Scope) -> dict[str, str]:
    """The headers worth keeping with the delivery; ASGI names are lower-case, the first one wins."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        # Compared as bytes: only the few kept headers are decoded.
        if raw_name in _KEPT_HEADERS:
            kept.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
    return kept


def _error(exc: ZoomWebhookError, status: int) -> JSONResponse:
    return JSONResponse({"code": exc.code, "message": exc.message, "details": []}, status_code=status)


def zoom_webhook_router(
    inbox: InboxWriter,
    secret_tokens: Sequence[str],
    *,
    tolerance_seconds: int,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    router = APIRouter()
    endpoint = ZoomWebhookEndpoint(inbox, secret_tokens, tolerance_seconds=tolerance_seconds, clock=clock)
    # An ASGI app as the endpoint makes Starlette call it as is, without request_response().
    route = Route(PATH, endpoint, methods=["POST"], name="receive_zoom", include_in_schema=False)
    router.routes.append(route)
    return router
