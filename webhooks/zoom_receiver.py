"""POST /webhooks/zoom: verify the signature over the raw bytes first, then store or answer the handshake.

The hot path does no JSON parsing for ordinary events: the delivery is keyed by a hash of its raw
body and committed through the inbox's group commit; normalisation happens in the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter

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
_URL_VALIDATION_MARKER = b"endpoint.url_validation"
_KEPT_HEADERS = ("x-zm-request-timestamp", "x-zm-signature", "x-zm-trackingid", "user-agent")


def zoom_webhook_router(
    inbox: InboxWriter,
    secret_tokens: Sequence[str],
    *,
    tolerance_seconds: int,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    router = APIRouter()
    secrets = tuple(secret_tokens)

    @router.post("/webhooks/zoom", include_in_schema=True, tags=["webhooks"])
    async def receive_zoom(request: Request) -> Response:
        body = await request.body()
        try:
            verify_zoom_request(
                body=body,
                headers=request.headers,
                secret_tokens=secrets,
                now=clock(),
                tolerance_seconds=tolerance_seconds,
            )
        except ZoomVerificationError as exc:
            WEBHOOKS.labels("zoom", exc.code).inc()
            log.warning("webhook.zoom.signature_rejected", code=exc.code)
            return JSONResponse({"code": exc.code, "message": exc.message, "details": []}, status_code=401)
        if _URL_VALIDATION_MARKER in body:
            try:
                envelope = parse_zoom_event(body)
            except ZoomWebhookError as exc:
                WEBHOOKS.labels("zoom", exc.code).inc()
                return JSONResponse(
                    {"code": exc.code, "message": exc.message, "details": []}, status_code=400
                )
            if isinstance(envelope, ZoomUrlValidation):
                WEBHOOKS.labels("zoom", "url_validation").inc()
                log.info("webhook.zoom.url_validated")
                return JSONResponse(url_validation_response(envelope.payload, secrets[0]))
        headers = {name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers}
        is_new = await inbox.store(Delivery("zoom", delivery_key(body), body, headers))
        WEBHOOKS.labels("zoom", "stored" if is_new else "duplicate").inc()
        return Response(status_code=200)

    return router
