"""Zoom's webhook endpoint as the plugin seam sees it: the check run on every request, and the
decoder that turns a stored delivery into events.

The check verifies the HMAC over the raw bytes first (the handshake too). A verified body is
stored whatever it says; only a genuine `endpoint.url_validation` is answered instead of stored.
The hot path parses no JSON: the marker is looked for in the raw bytes before any parse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pydantic_core

from integrations.plugin import Accept, Answer, Reject, WebhookEndpoint, WebhookRequest, WebhookVerdict
from integrations.zoom.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ZoomPayloadError,
    ZoomUrlValidation,
    ZoomVerificationError,
    ZoomWebhookError,
    delivery_key,
    normalise_zoom_event,
    parse_zoom_event,
    url_validation_response,
    verify_zoom_request,
)
from service.domain.events import AttendanceEvent, UndecodableDelivery

PATH = "/webhooks/zoom"
_URL_VALIDATION_MARKER = b"endpoint.url_validation"
KEPT_HEADERS = frozenset({SIGNATURE_HEADER, TIMESTAMP_HEADER, "x-zm-trackingid", "user-agent"})


class ZoomWebhookCheck:
    def __init__(
        self,
        secret_tokens: Sequence[str],
        *,
        tolerance_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = tuple(secret_tokens)
        self._tolerance_seconds = tolerance_seconds
        self._clock = clock

    async def __call__(self, request: WebhookRequest) -> WebhookVerdict:
        try:
            verify_zoom_request(
                body=request.body,
                headers=request.headers,
                secret_tokens=self._secrets,
                now=self._clock(),
                tolerance_seconds=self._tolerance_seconds,
            )
        except ZoomVerificationError as exc:
            return Reject(401, exc.code, exc.message)
        if _URL_VALIDATION_MARKER in request.body:
            handshake = _handshake(request.body)
            if handshake is not None:
                answer = url_validation_response(handshake.payload, self._secrets[0])
                return Answer(200, pydantic_core.to_json(answer), "application/json")
        return Accept(delivery_key(request.body))


def _handshake(body: bytes) -> ZoomUrlValidation | None:
    """The handshake, when the body is one; any other verified body (even one whose topic merely
    mentions the marker, or one we cannot read) is a delivery to keep."""
    try:
        envelope = parse_zoom_event(body)
    except ZoomPayloadError:
        return None
    return envelope if isinstance(envelope, ZoomUrlValidation) else None


def zoom_endpoint(secret_tokens: Sequence[str], *, tolerance_seconds: int) -> WebhookEndpoint:
    return WebhookEndpoint(
        path=PATH,
        check=ZoomWebhookCheck(secret_tokens, tolerance_seconds=tolerance_seconds),
        kept_headers=KEPT_HEADERS,
    )


def decode_zoom_delivery(body: bytes) -> list[AttendanceEvent]:
    try:
        return normalise_zoom_event(parse_zoom_event(body))
    except ZoomWebhookError as exc:
        raise UndecodableDelivery(f"{exc.code}: {exc.message}") from exc
