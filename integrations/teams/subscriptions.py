"""The callRecords subscription: created, renewed well before it expires, reauthorized, deleted.

Graph keeps a callRecords subscription under 3 days (4,230 minutes). Creating one makes Graph
validate both URLs (`public_url` + `/webhooks/teams`) before it answers, so the service must be
serving when the renewal job runs. Change and lifecycle notifications go to the same URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

import structlog

from integrations.base import ProviderNotFound, ProviderSubscription, ProviderUnavailable
from integrations.teams.adapter import json_object
from integrations.teams.client import GraphApi
from integrations.teams.errors import TEAMS
from integrations.teams.mapping import graph_time, parse_graph_time

CALL_RECORDS = "/communications/callRecords"

log = structlog.get_logger("salesmeet.teams.subscriptions")


class TeamsSubscriptions:
    def __init__(
        self,
        api: GraphApi,
        *,
        notification_url: str,
        client_state: str,
        lifetime: timedelta,
        renew_before: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        if renew_before >= lifetime:
            raise ValueError("a subscription must be renewed before it expires")
        self._api = api
        self._notification_url = notification_url
        self._client_state = client_state
        self._lifetime = lifetime
        self._clock = clock
        self.renew_before = renew_before

    def wanted(self) -> Sequence[str]:
        return (CALL_RECORDS,)

    def _subscription(self, body: object, resource: str) -> ProviderSubscription:
        found = body if isinstance(body, dict) else {}
        subscription_id = found.get("id")
        expires_at = parse_graph_time(found.get("expirationDateTime"))
        if not isinstance(subscription_id, str) or expires_at is None:
            raise ProviderUnavailable(TEAMS, "Graph's subscription lacks an id or an expirationDateTime")
        return ProviderSubscription(resource, subscription_id, expires_at)

    def create(self, resource: str) -> ProviderSubscription:
        body = {
            "changeType": "created,updated",
            "notificationUrl": self._notification_url,
            "lifecycleNotificationUrl": self._notification_url,
            "resource": resource,
            "expirationDateTime": graph_time(self._clock() + self._lifetime),
            "clientState": self._client_state,
        }
        # Not retried on a read timeout: Graph may have made it (a second one only duplicates
        # notifications, which are deduplicated, but there is no need to make it).
        response = self._api.call("POST", "subscriptions", json=body, idempotent=False)
        subscription = self._subscription(json_object(response), resource)
        log.info("teams.subscription_created", subscription_id=subscription.provider_subscription_id)
        return subscription

    def renew(self, subscription: ProviderSubscription) -> ProviderSubscription:
        """Push the expiry out again; `ProviderNotFound` when Graph no longer has it (expired or
        removed), and the renewal job then creates a new one."""
        path = f"subscriptions/{quote(subscription.provider_subscription_id, safe='')}"
        body = {"expirationDateTime": graph_time(self._clock() + self._lifetime)}
        response = self._api.call("PATCH", path, json=body)
        return self._subscription(json_object(response), subscription.resource)

    def delete(self, subscription: ProviderSubscription) -> None:
        try:
            self._api.call("DELETE", f"subscriptions/{quote(subscription.provider_subscription_id, safe='')}")
        except ProviderNotFound:
            return

    def reauthorize(self, subscription_id: str) -> bool:
        """Answer a `reauthorizationRequired` lifecycle event; False when Graph no longer has the
        subscription (the renewal job recreates it)."""
        try:
            self._api.call("POST", f"subscriptions/{quote(subscription_id, safe='')}/reauthorize")
        except ProviderNotFound:
            return False
        log.info("teams.subscription_reauthorized", subscription_id=subscription_id)
        return True
