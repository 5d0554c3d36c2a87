"""Sending Zoom webhooks the way Zoom does: compact JSON, `v0` HMAC signature, retries.

Zoom hashes `v0:{x-zm-request-timestamp}:{body}` with the app's secret token (hex, `v0=` prefix)
and retries a delivery not answered 200/204 within 3 s three times before dropping it. The
emulator keeps the same rules with configurable (short) retry delays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from integrations.sandbox.clock import Clock, utc_now
from integrations.sandbox.zoom.config import ZoomEmulatorConfig

_ACCEPTED = frozenset({200, 204})


def compact_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def zoom_signature(secret_token: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret_token.encode("utf-8"), message, hashlib.sha256).hexdigest()


def url_validation_answer(secret_token: str, plain_token: str) -> str:
    return hmac.new(secret_token.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookEvent:
    """One event as Zoom would build it; `body` is the exact byte string that is signed and sent."""

    event: str
    event_ts: int
    payload: dict[str, Any]
    tracking_id: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def body(self) -> bytes:
        return compact_json({"event": self.event, "event_ts": self.event_ts, "payload": self.payload})


@dataclass(frozen=True)
class DeliveryResult:
    event: WebhookEvent
    # One entry per attempt: the HTTP status, or None for no answer in time / no connection.
    statuses: tuple[int | None, ...]

    @property
    def delivered(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] in _ACCEPTED


@dataclass(frozen=True)
class UrlValidationResult:
    plain_token: str
    status: int | None
    accepted: bool
    detail: str


def event_ts_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class WebhookSender:
    """Posts signed webhooks to one endpoint, retrying like Zoom (1 try + len(retry_delays))."""

    def __init__(
        self,
        target_url: str,
        secret_token: str,
        *,
        client_id: str = "",
        answer_timeout: float = 3.0,
        retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0),
        clock: Clock = utc_now,
    ) -> None:
        self.target_url = target_url
        self._secret_token = secret_token
        self._client_id = client_id
        self._retry_delays = retry_delays
        self._clock = clock
        self._http = httpx.Client(timeout=answer_timeout)

    @classmethod
    def for_config(cls, config: ZoomEmulatorConfig) -> WebhookSender:
        """The sender an emulated account uses: its target URL, secret token and retry rules."""
        if not config.webhook_target_url:
            raise ValueError("the emulator config has no webhook_target_url")
        return cls(
            config.webhook_target_url,
            config.webhook_secret_token,
            client_id=config.client_id,
            answer_timeout=config.webhook_answer_timeout,
            retry_delays=config.webhook_retry_delays,
            clock=config.clock,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _signed_headers(self, body: bytes, tracking_id: str) -> dict[str, str]:
        # The header carries the send time in epoch seconds (community examples show 10 digits).
        timestamp = str(int(self._clock().timestamp()))
        return {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Zoom Marketplace/1.0a",
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": zoom_signature(self._secret_token, timestamp, body),
            "x-zm-trackingid": tracking_id,
            "clientid": self._client_id,
        }

    def _post(self, body: bytes, tracking_id: str) -> int | None:
        try:
            return self._http.post(
                self.target_url, content=body, headers=self._signed_headers(body, tracking_id)
            ).status_code
        except httpx.HTTPError:
            return None

    def deliver(self, event: WebhookEvent) -> DeliveryResult:
        statuses: list[int | None] = [self._post(event.body, event.tracking_id)]
        for delay in self._retry_delays:
            if statuses[-1] in _ACCEPTED:
                break
            time.sleep(delay)
            statuses.append(self._post(event.body, event.tracking_id))
        return DeliveryResult(event, tuple(statuses))

    def send_url_validation(self, plain_token: str | None = None) -> UrlValidationResult:
        """Post `endpoint.url_validation` and check the answer as Zoom does before enabling events."""
        token = plain_token or secrets.token_urlsafe(16)
        event = WebhookEvent("endpoint.url_validation", event_ts_ms(self._clock()), {"plainToken": token})
        try:
            response = self._http.post(
                self.target_url,
                content=event.body,
                headers=self._signed_headers(event.body, event.tracking_id),
            )
        except httpx.HTTPError as exc:
            return UrlValidationResult(token, None, False, f"no answer: {type(exc).__name__}")
        if response.status_code != 200:
            return UrlValidationResult(token, response.status_code, False, "status is not 200")
        try:
            answer = response.json()
        except ValueError:
            return UrlValidationResult(token, 200, False, "answer is not JSON")
        expected = url_validation_answer(self._secret_token, token)
        if not isinstance(answer, dict) or answer.get("plainToken") != token:
            return UrlValidationResult(token, 200, False, "plainToken not echoed")
        if not hmac.compare_digest(str(answer.get("encryptedToken", "")), expected):
            return UrlValidationResult(token, 200, False, "encryptedToken is wrong")
        return UrlValidationResult(token, 200, True, "validated")
