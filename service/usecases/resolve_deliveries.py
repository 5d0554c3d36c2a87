"""Stage 2 of the inbox: deliveries that only name resources are resolved by their provider.

A Graph change notification or a Workspace Events push says *that* something happened and *where*
to read it; the provider's resolver fetches it. Those calls take as long as the provider takes, so
they run outside every database transaction: a delivery is claimed in one short transaction (a
lease, see `inbox_repo.claim_unresolved`), resolved with no transaction open, and its events stored
in another. A crashed worker's claim lapses and the delivery is resolved again: resolving is
idempotent, and so is applying what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog

from integrations.base import ProviderError
from integrations.plugin import NotificationResolver
from service.domain.events import AttendanceEvent, UndecodableDelivery
from service.storage import inbox_repo
from service.storage.database import Database
from service.storage.inbox_repo import StoredDelivery
from service.usecases.record_attendance import AttendancePolicy, retry_delay

log = structlog.get_logger("salesmeet.resolve")


def resolve_inbox_batch(
    db: Database,
    resolvers: Mapping[str, NotificationResolver],
    policy: AttendancePolicy,
    now: datetime,
    limit: int,
) -> int:
    """Resolve one batch of due deliveries; returns how many were handled (resolved or failed)."""
    with db.write() as conn:
        batch = inbox_repo.claim_unresolved(conn, now, limit)
    for delivery in batch:
        outcome = _resolve(delivery, resolvers)
        if isinstance(outcome, Exception):
            _record_failure(db, delivery, outcome, policy, now)
            continue
        with db.write() as conn:
            inbox_repo.store_resolved(conn, delivery.id, outcome, now)
    return len(batch)


def _resolve(
    delivery: StoredDelivery, resolvers: Mapping[str, NotificationResolver]
) -> list[AttendanceEvent] | Exception:
    resolver = resolvers.get(delivery.provider)
    if resolver is None:
        return UndecodableDelivery(f"no resolver for provider {delivery.provider!r}")
    try:
        return resolver.resolve(delivery.body, delivery.headers)
    except (ProviderError, UndecodableDelivery) as exc:
        return exc
    except Exception as exc:  # a resolver's bug must not stop the others; the delivery keeps the error
        log.error("inbox.resolver_crashed", delivery_id=delivery.id, error=repr(exc), exc_info=exc)
        return exc


def _record_failure(
    db: Database, delivery: StoredDelivery, exc: Exception, policy: AttendancePolicy, now: datetime
) -> None:
    attempts = delivery.attempts + 1
    permanent = isinstance(exc, UndecodableDelivery) or (isinstance(exc, ProviderError) and not exc.retryable)
    retry_at = None if permanent or attempts >= policy.max_attempts else now + retry_delay(attempts)
    error = f"{exc.code}: {exc.message}" if isinstance(exc, ProviderError) else str(exc) or repr(exc)
    log.warning(
        "inbox.resolve_failed",
        delivery_id=delivery.id,
        attempts=attempts,
        error=error,
        parked=retry_at is None,
    )
    with db.write() as conn:
        inbox_repo.mark_failed(conn, delivery.id, attempts=attempts, error=error, retry_at=retry_at)
