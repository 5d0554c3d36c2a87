"""Sending Graph change and lifecycle notifications, and the subscription validation handshake.

Change notifications are POSTed as `{"value": [...]}` batches to the subscription's
`notificationUrl`, each item carrying its `clientState`; lifecycle notifications go to the
`lifecycleNotificationUrl` the same way. A POST not answered 2xx within 3 s is redelivered
(Graph keeps trying for 4 hours; the emulator's retry delays are short and configurable).
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from integrations.sandbox.teams.config import TeamsEmulatorConfig
from integrations.sandbox.teams.state import Subscription
from integrations.sandbox.teams.wire import graph_time


@dataclass(frozen=True)
class NotificationFaults:
    """What goes wrong between Graph and the service, drawn from a seeded generator."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    shuffle: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Notification:
    """One item of a notification batch, and where it goes."""

    target_url: str
    item: dict[str, Any]


@dataclass(frozen=True)
class BatchDelivery:
    target_url: str
    body: bytes
    items: tuple[dict[str, Any], ...]
    # One entry per attempt: the HTTP status, or None for no answer in time / no connection.
    statuses: tuple[int | None, ...]

    @property
    def delivered(self) -> bool:
        last = self.statuses[-1] if self.statuses else None
        return last is not None and 200 <= last < 300


def change_notification(
    subscription: Subscription, tenant_id: str, call_record_id: str, change_type: str = "created"
) -> Notification:
    resource = f"communications/callRecords/{call_record_id}"
    item = {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_time(subscription.expiration),
        "changeType": change_type,
        "resource": resource,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.callrecord",
            "@odata.id": resource,
            "id": call_record_id,
        },
        "clientState": subscription.client_state,
        "tenantId": tenant_id,
    }
    return Notification(subscription.notification_url, item)


def lifecycle_notification(subscription: Subscription, tenant_id: str, event: str) -> Notification:
    if subscription.lifecycle_url is None:
        raise ValueError(f"subscription {subscription.id} has no lifecycleNotificationUrl")
    item = {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_time(subscription.expiration),
        "tenantId": tenant_id,
        "clientState": subscription.client_state,
        "lifecycleEvent": event,
    }
    return Notification(subscription.lifecycle_url, item)


def plan_deliveries(
    notifications: Sequence[Notification], faults: NotificationFaults, batch_size: int
) -> tuple[list[tuple[str, list[dict[str, Any]]]], list[Notification]]:
    """Which items are posted, batched per target, in which order; and which are lost."""
    rng = random.Random(faults.seed)  # noqa: S311 - reproducible fault plan, not security
    kept: list[Notification] = []
    dropped: list[Notification] = []
    for notification in notifications:
        if rng.random() < faults.drop_rate:
            dropped.append(notification)
            continue
        kept.append(notification)
        if rng.random() < faults.duplicate_rate:
            kept.append(notification)
    if faults.shuffle:
        rng.shuffle(kept)
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    for notification in kept:
        if batches and batches[-1][0] == notification.target_url and len(batches[-1][1]) < batch_size:
            batches[-1][1].append(notification.item)
        else:
            batches.append((notification.target_url, [notification.item]))
    return batches, dropped


class NotificationSender:
    """Posts notification batches the way Graph does, redelivering those not answered 2xx."""

    def __init__(self, config: TeamsEmulatorConfig) -> None:
        self._retry_delays = config.notification_retry_delays
        self._batch_size = config.notification_batch_size
        self._http = httpx.Client(timeout=config.notification_answer_timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NotificationSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _post(self, url: str, body: bytes) -> int | None:
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Microsoft-Graph-ChangeNotifications/1.0 (sandbox)",
            "client-request-id": secrets.token_hex(16),
        }
        try:
            return self._http.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            return None

    def post_batch(self, url: str, items: Sequence[dict[str, Any]]) -> BatchDelivery:
        body = json.dumps({"value": list(items)}, separators=(",", ":")).encode()
        statuses: list[int | None] = [self._post(url, body)]
        for delay in self._retry_delays:
            last = statuses[-1]
            if last is not None and 200 <= last < 300:
                break
            time.sleep(delay)
            statuses.append(self._post(url, body))
        return BatchDelivery(url, body, tuple(items), tuple(statuses))

    def send(
        self, notifications: Sequence[Notification], faults: NotificationFaults | None = None
    ) -> tuple[list[BatchDelivery], list[Notification]]:
        """Deliver `notifications` under `faults`: (the batches posted, the notifications lost)."""
        batches, dropped = plan_deliveries(notifications, faults or NotificationFaults(), self._batch_size)
        deliveries = [self.post_batch(url, items) for url, items in batches]
        return deliveries, dropped
