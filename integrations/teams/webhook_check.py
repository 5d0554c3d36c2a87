"""The Teams webhook (`POST /webhooks/teams`) as the plugin seam sees it.

- A `validationToken` in the query is Graph validating the URL (on subscription create, for both
  the notification and the lifecycle URL): answered 200 `text/plain` with the URL-decoded token,
  stored nowhere. It proves only that we answer, so answering it is safe.
- Anything else must be a batch of notifications whose every `clientState` is ours (compared in
  constant time), else 401. Graph signs nothing else for callRecords notifications.
- An accepted batch is stored under the SHA-256 of its body (a redelivery is the same body) and
  answered 202; it carries resource names only, so the resolver fetches the call record later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from integrations.plugin import Accept, Answer, Reject, WebhookEndpoint, WebhookRequest, WebhookVerdict
from integrations.teams.notifications import NotificationError, parse_notifications

PATH = "/webhooks/teams"
KEPT_HEADERS = frozenset({"content-type", "client-request-id", "user-agent"})
_MAX_VALIDATION_TOKEN_CHARS = 1024


def delivery_key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class TeamsWebhookCheck:
    def __init__(self, client_states: Sequence[str]) -> None:
        states = tuple(s.encode("utf-8") for s in client_states if s)
        if not states:
            raise ValueError("the Teams webhook needs a client state")
        self._states = states

    def _ours(self, client_state: object) -> bool:
        if not isinstance(client_state, str):
            return False
        given = client_state.encode("utf-8")
        # Every configured state is compared (a rotation keeps the old one for a while).
        matches = [hmac.compare_digest(given, state) for state in self._states]
        return any(matches)

    async def __call__(self, request: WebhookRequest) -> WebhookVerdict:
        query = request.query()
        if "validationToken" in query:
            token = query["validationToken"]
            if not token or len(token) > _MAX_VALIDATION_TOKEN_CHARS:
                return Reject(400, "invalid_validation_token", "validationToken is empty or too long")
            return Answer(200, token.encode("utf-8"), "text/plain")
        try:
            items = parse_notifications(request.body)
        except NotificationError as exc:
            return Reject(400, "invalid_notification", str(exc))
        if not all(self._ours(item.get("clientState")) for item in items):
            return Reject(401, "client_state_mismatch", "a notification's clientState is not ours")
        return Accept(delivery_key(request.body), needs_resolution=True, status=202)


def teams_endpoint(client_states: Sequence[str]) -> WebhookEndpoint:
    return WebhookEndpoint(
        path=PATH, check=TeamsWebhookCheck(client_states), kept_headers=KEPT_HEADERS, reads_query=True
    )
