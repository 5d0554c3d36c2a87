"""The Meet webhook (`/webhooks/google`): Pub/Sub pushes of Workspace Events, as the plugin seam sees it.

The check runs on every request before anything is stored: the push's bearer OIDC token first
(see `push_auth`), then the wrapped push body, just enough to read its `messageId` (Pub/Sub keeps
it across redeliveries, so it keys the delivery). The event names resources only; the resolver
fetches them later, off the hot path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from integrations.meet.push_auth import (
    GoogleCertificates,
    PushAuthError,
    bearer_token,
    token_key_id,
    verify_push_token,
)
from integrations.plugin import Accept, Reject, WebhookEndpoint, WebhookRequest, WebhookVerdict

PATH = "/webhooks/google"
# The check needs the token; the others help whoever reads a stored delivery.
KEPT_HEADERS = frozenset({"authorization", "user-agent"})
_MAX_MESSAGE_ID_CHARS = 100


class PushCheck:
    def __init__(
        self,
        certificates: GoogleCertificates,
        *,
        audience: str,
        service_account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._certificates = certificates
        self._audience = audience
        self._service_account = service_account
        self._clock = clock

    async def __call__(self, request: WebhookRequest) -> WebhookVerdict:
        try:
            token = bearer_token(request.headers.get("authorization"))
            keys = await self._certificates.for_key(token_key_id(token))
            verify_push_token(
                token, keys, audience=self._audience, service_account=self._service_account, now=self._clock()
            )
        except PushAuthError as exc:
            # No certificates is our side's trouble: 503 makes Pub/Sub deliver again later.
            return Reject(503 if exc.code == "certs_unavailable" else 401, exc.code, exc.message)
        message_id = push_message_id(request.body)
        if message_id is None:
            return Reject(400, "push_body_invalid", "not a Pub/Sub push body with a message id")
        return Accept(f"pubsub:{message_id}", needs_resolution=True)


def push_message_id(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    message = document.get("message") if isinstance(document, dict) else None
    if not isinstance(message, dict):
        return None
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id or len(message_id) > _MAX_MESSAGE_ID_CHARS:
        return None
    return message_id


def google_endpoint(
    certs_url: str, *, audience: str, service_account: str, timeout: float
) -> WebhookEndpoint:
    return WebhookEndpoint(
        path=PATH,
        check=PushCheck(
            GoogleCertificates(certs_url, timeout=timeout), audience=audience, service_account=service_account
        ),
        kept_headers=KEPT_HEADERS,
        credential_headers=frozenset({"authorization"}),
    )
