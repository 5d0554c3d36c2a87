"""The webhook inbox: raw deliveries stored once per (provider, delivery key), processed later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.domain.events import AttendanceEvent
from service.storage.event_json import events_from_json, events_to_json
from service.storage.tables import provider_status, webhook_deliveries

UNRESOLVED = "unresolved"  # names resources the provider's resolver must fetch first
PENDING = "pending"  # ready to apply
DONE = "done"
PARKED = "parked"
# A worker resolving a delivery holds it this long; a crashed worker's claim lapses after it.
RESOLVE_CLAIM = timedelta(minutes=2)


@dataclass(frozen=True)
class Delivery:
    provider: str
    delivery_key: str
    body: bytes
    headers: dict[str, str]
    needs_resolution: bool = False


@dataclass(frozen=True)
class StoredDelivery:
    id: int
    provider: str
    delivery_key: str
    body: bytes
    attempts: int
    headers: Mapping[str, str] = field(default_factory=dict)
    # The events its resolver stored (None: the delivery carries its own events).
    resolved_events: list[AttendanceEvent] | None = None


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(webhook_deliveries)


def insert_deliveries(
    conn: Connection, deliveries: Sequence[Delivery], now: datetime
) -> set[tuple[str, str]]:
    """Insert what is new; return the (provider, key) pairs that were new (the rest were duplicates)."""
    unique: dict[tuple[str, str], Delivery] = {}
    for d in deliveries:
        unique.setdefault((d.provider, d.delivery_key), d)
    # Key order: two replicas storing overlapping batches take index locks in one order (no deadlock).
    deliveries = [unique[key] for key in sorted(unique)]
    if not deliveries:
        return set()
    stmt = (
        _insert_ignoring_duplicates(conn)
        .on_conflict_do_nothing(index_elements=["provider", "delivery_key"])
        .returning(webhook_deliveries.c.provider, webhook_deliveries.c.delivery_key)
    )
    rows = conn.execute(
        stmt,
        [
            {
                "provider": d.provider,
                "delivery_key": d.delivery_key,
                "received_at": now,
                "body": d.body,
                "headers": d.headers,
                "status": UNRESOLVED if d.needs_resolution else PENDING,
                "needs_resolution": d.needs_resolution,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for d in deliveries
        ],
    ).all()
    return {(r.provider, r.delivery_key) for r in rows}


def touch_last_webhook(conn: Connection, providers: Sequence[str], now: datetime) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for provider in sorted(set(providers)):
        stmt = dialect.insert(provider_status).values(provider=provider, last_webhook_at=now)
        conn.execute(stmt.on_conflict_do_update(index_elements=["provider"], set_={"last_webhook_at": now}))


def claim_due(conn: Connection, now: datetime, limit: int) -> list[StoredDelivery]:
    """Lock a batch of deliveries due to be applied for this transaction; other workers skip them."""
    c = webhook_deliveries.c
    rows = conn.execute(
        select(c.id, c.provider, c.delivery_key, c.body, c.attempts, c.resolved_events)
        .where(c.status == PENDING, c.next_attempt_at <= now)
        .order_by(c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return [
        StoredDelivery(
            r.id,
            r.provider,
            r.delivery_key,
            bytes(r.body),
            r.attempts,
            resolved_events=None if r.resolved_events is None else events_from_json(r.resolved_events),
        )
        for r in rows
    ]


def claim_unresolved(conn: Connection, now: datetime, limit: int) -> list[StoredDelivery]:
    """Take due deliveries that wait for their resolver, for `RESOLVE_CLAIM`.

    The claim is a later `next_attempt_at`, committed at once: the resolver then calls the
    provider outside any transaction, and no other worker takes the delivery meanwhile.
    """
    c = webhook_deliveries.c
    rows = conn.execute(
        select(c.id, c.provider, c.delivery_key, c.body, c.attempts, c.headers)
        .where(c.status == UNRESOLVED, c.next_attempt_at <= now)
        .order_by(c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        conn.execute(
            update(webhook_deliveries)
            .where(c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=now + RESOLVE_CLAIM)
        )
    return [
        StoredDelivery(r.id, r.provider, r.delivery_key, bytes(r.body), r.attempts, dict(r.headers or {}))
        for r in rows
    ]


def store_resolved(
    conn: Connection, delivery_id: int, events: Sequence[AttendanceEvent], now: datetime
) -> None:
    """The resolver's events are kept with the delivery, which is then ready to apply."""
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == UNRESOLVED)
        .values(resolved_events=events_to_json(events), status=PENDING, next_attempt_at=now, last_error=None)
    )


def mark_done(conn: Connection, delivery_ids: Sequence[int], now: datetime) -> None:
    if delivery_ids:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_(delivery_ids))
            .values(status=DONE, processed_at=now, last_error=None)
        )


def mark_failed(
    conn: Connection, delivery_id: int, *, attempts: int, error: str, retry_at: datetime | None
) -> None:
    """Schedule a retry at `retry_at`, or park the delivery (kept with its error) when it is None."""
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
    if retry_at is None:
        values["status"] = PARKED
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values))


def requeue(conn: Connection, *, provider: str | None, status: str | None, now: datetime) -> int:
    """Put deliveries back in the queue (`salesmeet inbox replay`); processing is idempotent.

    A delivery that names resources and was never resolved goes back to its resolver.
    """
    c = webhook_deliveries.c
    back_to = case((and_(c.needs_resolution, c.resolved_events.is_(None)), UNRESOLVED), else_=PENDING)
    stmt = update(webhook_deliveries).values(status=back_to, next_attempt_at=now, attempts=0)
    if provider is not None:
        stmt = stmt.where(c.provider == provider)
    if status is not None:
        stmt = stmt.where(c.status == status)
    return int(conn.execute(stmt).rowcount)


def counts_by_status(conn: Connection) -> dict[str, int]:
    c = webhook_deliveries.c
    rows = conn.execute(select(c.status, func.count()).group_by(c.status)).all()
    return {str(status): int(n) for status, n in rows}
