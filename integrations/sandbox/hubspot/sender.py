"""HubSpot's side of the calls it makes to salesmeet: workflow "Send a webhook" deliveries and the
video-conferencing extension's requests, signed as HubSpot signs them (v3 by default; v1, v2, or
the workflow action's API key on request).

Workflow retries follow HubSpot's rules on a simulated clock: 5xx, timeouts and 429 (waiting its
`Retry-After`, in ms) are retried, from 1 minute apart up to 8 hours, for 3 days; any other 4xx
stops at once. `deliver` makes the attempts without sleeping and returns each answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from integrations.crm.hubspot.signature import sign_v1, sign_v2, sign_v3
from integrations.sandbox.clock import Clock, utc_now

Signing = Literal["v3", "v2", "v1", "api_key", "none"]
GIVE_UP_AFTER = timedelta(days=3)


@dataclass
class Attempt:
    at: datetime
    status: int | None  # None: timed out or the connection failed


@dataclass
class HubSpotSender:
    base_url: str
    app_secret: str
    clock: Clock = utc_now
    api_key_name: str = "X-Salesmeet-Key"
    # The workflow action's API key: its own value, never the app secret.
    api_key: str = ""
    timeout_seconds: float = 30.0
    # The URL HubSpot signs when a proxy stands between it and the service (default: `base_url`).
    signed_base_url: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    # A client to reuse across calls (the demo sends a month of deliveries); None: a new one per call.
    http: httpx.Client | None = None

    def headers(self, signing: Signing, method: str, url: str, body: bytes, at: datetime) -> dict[str, str]:
        if signing == "v3":
            timestamp = str(int(at.timestamp() * 1000))
            return {
                "X-HubSpot-Signature-v3": sign_v3(self.app_secret, method, url, body, timestamp),
                "X-HubSpot-Request-Timestamp": timestamp,
            }
        if signing == "v2":
            return {
                "X-HubSpot-Signature": sign_v2(self.app_secret, method, url, body),
                "X-HubSpot-Signature-Version": "v2",
            }
        if signing == "v1":
            return {
                "X-HubSpot-Signature": sign_v1(self.app_secret, body),
                "X-HubSpot-Signature-Version": "v1",
            }
        if signing == "api_key":
            return {self.api_key_name: self.api_key}
        return {}

    def post(
        self, path: str, payload: object, *, signing: Signing = "v3", at: datetime | None = None
    ) -> httpx.Response:
        """One signed POST (the extension's calls, or one workflow attempt)."""
        body = json.dumps(payload).encode()
        url = f"{self.base_url.rstrip('/')}{path}"
        signed_url = f"{(self.signed_base_url or self.base_url).rstrip('/')}{path}"
        headers = {
            "Content-Type": "application/json",
            **self.headers(signing, "POST", signed_url, body, at or self.clock()),
        }
        if self.http is not None:
            return self.http.post(url, content=body, headers=headers, timeout=self.timeout_seconds)
        return httpx.post(url, content=body, headers=headers, timeout=self.timeout_seconds)

    def deliver(
        self,
        record: Mapping[str, Any],
        *,
        path: str = "/webhooks/hubspot",
        signing: Signing = "v3",
        max_attempts: int = 10,
    ) -> list[Attempt]:
        """A workflow delivery with HubSpot's retries (simulated time: the clock is not waited on)."""
        start = at = self.clock()
        made: list[Attempt] = []
        delay = timedelta(minutes=1)
        while len(made) < max_attempts and at - start <= GIVE_UP_AFTER:
            try:
                response = self.post(path, record, signing=signing, at=at)
                status: int | None = response.status_code
            except httpx.HTTPError:
                response, status = None, None
            made.append(Attempt(at, status))
            if status is not None and (status < 400 or (400 <= status < 500 and status != 429)):
                break
            wait = delay
            if response is not None and status == 429 and response.headers.get("retry-after", "").isdigit():
                wait = max(wait, timedelta(milliseconds=int(response.headers["retry-after"])))
            at += wait
            delay = min(delay * 2, timedelta(hours=8))
        self.attempts.extend(made)
        return made
