"""Keep every provider's push subscriptions alive: create what is missing, renew well before expiry,
recreate what the provider removed, delete what is no longer wanted.

Runs from the worker's periodic work, under a database lease (once across replicas). Provider calls
are made outside every database transaction; each outcome is stored in its own short one, so one
provider's failure never holds back another's subscriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog

from integrations.base import ProviderError, ProviderNotFound, SubscriptionManager
from service.domain.meeting import ProviderName
from service.storage import subscriptions_repo
from service.storage.database import Database
from service.storage.subscriptions_repo import StoredSubscription

log = structlog.get_logger("salesmeet.subscriptions")


def keep_subscriptions(
    db: Database, managers: Mapping[ProviderName, SubscriptionManager], now: datetime
) -> None:
    for name, manager in managers.items():
        try:
            wanted = list(dict.fromkeys(manager.wanted()))
        except ProviderError as exc:
            log.warning("subscriptions.wanted_failed", provider=name.value, error=exc.code)
            continue
        with db.read() as conn:
            held = subscriptions_repo.for_provider(conn, name.value)
        for resource in wanted:
            _keep_one(db, name, manager, resource, held.get(resource), now)
        for resource, stored in held.items():
            if resource not in wanted and stored.state != subscriptions_repo.DELETED:
                _delete_one(db, name, manager, stored, now)


def _keep_one(
    db: Database,
    name: ProviderName,
    manager: SubscriptionManager,
    resource: str,
    stored: StoredSubscription | None,
    now: datetime,
) -> None:
    current = stored.as_provider_subscription() if stored is not None else None
    try:
        if current is None or stored is None or stored.state != subscriptions_repo.ACTIVE:
            made = manager.create(resource)
            action = "created"
        elif current.expires_at - now > manager.renew_before:
            return
        else:
            try:
                made = manager.renew(current)
                action = "renewed"
            except ProviderNotFound:
                # Gone on the provider's side (removed, or expired before we renewed it): make it again.
                made = manager.create(resource)
                action = "recreated"
    except ProviderError as exc:
        log.warning("subscriptions.failed", provider=name.value, resource=resource, error=exc.code)
        with db.write() as conn:
            subscriptions_repo.record_failure(conn, name.value, resource, f"{exc.code}: {exc.message}", now)
        return
    with db.write() as conn:
        subscriptions_repo.record_active(conn, name.value, made, now)
    log.info(f"subscriptions.{action}", provider=name.value, resource=resource, expires_at=made.expires_at)


def _delete_one(
    db: Database, name: ProviderName, manager: SubscriptionManager, stored: StoredSubscription, now: datetime
) -> None:
    current = stored.as_provider_subscription()
    try:
        if current is not None:
            manager.delete(current)
    except ProviderError as exc:
        with db.write() as conn:
            subscriptions_repo.record_failure(
                conn, name.value, stored.resource, f"{exc.code}: {exc.message}", now
            )
        return
    with db.write() as conn:
        subscriptions_repo.record_deleted(conn, name.value, stored.resource, now)
