"""Pub/Sub push delivery as Google does it for Workspace Events.

Each event is a CloudEvent in Pub/Sub binary mode: its attributes become `ce-`-prefixed message
attributes, its JSON data (resource names only) the base64 `data`. The wrapped push body is POSTed
with `Authorization: Bearer <OIDC JWT>` signed by "Google" (the emulator's push key, whose
certificate `/oauth2/v1/certs` serves), for the push subscription's service account and audience.
Any answer but 102/200/201/202/204 is a nack: the message is redelivered, same `messageId`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from integrations.sandbox.meet.config import MeetEmulatorConfig
from integrations.sandbox.meet.keys import SigningKey
from integrations.sandbox.meet.wire import google_time

ACKED = frozenset({102, 200, 201, 202, 204})
OIDC_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class PushMessage:
    """One Workspace Events CloudEvent as a Pub/Sub message."""

    event_type: str
    source: str  # //meet.googleapis.com/spaces/{id}
    subject: str
    data: dict[str, Any]
    time: datetime
    message_id: str = field(default_factory=lambda: str(secrets.randbelow(10**16)))
    event_id: str = field(default_factory=lambda: secrets.token_hex(12))

    def attributes(self) -> dict[str, str]:
        return {
            "ce-datacontenttype": "application/json",
            "ce-id": self.event_id,
            "ce-source": self.source,
            "ce-specversion": "1.0",
            "ce-subject": self.subject,
            "ce-time": google_time(self.time),
            "ce-type": self.event_type,
        }

    def body(self, subscription: str, published: datetime) -> bytes:
        data = base64.b64encode(json.dumps(self.data, separators=(",", ":")).encode()).decode("ascii")
        publish_time = google_time(published)
        message = {
            "attributes": self.attributes(),
            "data": data,
            "messageId": self.message_id,
            "message_id": self.message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        }
        return json.dumps({"message": message, "subscription": subscription}).encode()


@dataclass(frozen=True)
class PushResult:
    message: PushMessage
    # One entry per attempt: the HTTP status, or None for no answer / no connection.
    statuses: tuple[int | None, ...]

    @property
    def acked(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] in ACKED


def _numeric_id(email: str) -> str:
    """A stable numeric id for a service account (Google's `azp`/`sub` are its unique id)."""
    return "1" + str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")).zfill(20)


def oidc_token(key: SigningKey, *, audience: str, email: str, issued_at: int | None = None) -> str:
    """The OIDC ID token Pub/Sub puts on a push, signed by `key`."""
    now = int(time.time()) if issued_at is None else issued_at
    return key.sign(
        {
            "aud": audience,
            "azp": _numeric_id(email),
            "email": email,
            "email_verified": True,
            "exp": now + OIDC_LIFETIME_SECONDS,
            "iat": now,
            "iss": "https://accounts.google.com",
            "sub": _numeric_id(email),
        }
    )


class PushSender:
    """Posts push messages to one endpoint, redelivering a nacked one after each of `retry_delays`."""

    def __init__(
        self,
        target_url: str,
        signing_key: SigningKey,
        *,
        audience: str,
        service_account: str,
        subscription: str,
        retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0),
        answer_timeout: float = 10.0,
    ) -> None:
        self.target_url = target_url
        self._key = signing_key
        self._audience = audience
        self._service_account = service_account
        self._subscription = subscription
        self._retry_delays = retry_delays
        self._http = httpx.Client(timeout=answer_timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _post(self, body: bytes) -> int | None:
        token = oidc_token(self._key, audience=self._audience, email=self._service_account)
        headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "user-agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        }
        try:
            return self._http.post(self.target_url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            return None

    def deliver(self, message: PushMessage, published: datetime) -> PushResult:
        body = message.body(self._subscription, published)
        statuses: list[int | None] = [self._post(body)]
        for delay in self._retry_delays:
            if statuses[-1] in ACKED:
                break
            time.sleep(delay)
            statuses.append(self._post(body))
        return PushResult(message, tuple(statuses))


def push_sender_for(config: MeetEmulatorConfig) -> PushSender:
    """The sender an emulated Workspace's Pub/Sub push subscription uses."""
    if not config.push_target_url:
        raise ValueError("the emulator config has no push_target_url")
    return PushSender(
        config.push_target_url,
        config.push_signing_key,
        audience=config.push_audience or config.push_target_url,
        service_account=config.push_service_account,
        subscription=config.pubsub_subscription,
        retry_delays=config.push_retry_delays,
        answer_timeout=config.push_answer_timeout,
    )
