"""Webhook intake's write path: one group-committed batch of deliveries at a time.

`InboxWriter` (webhooks/inbox.py) batches concurrent deliveries and answers their 2xx only once
`IntakeStore.write` returned, i.e. once the batch committed. The store does the least the
database needs, on the driver itself, because every microsecond here is paid in a join storm:

- PostgreSQL: `PostgresIntake`, psycopg's async API on the event loop: one statement per batch, no
  thread hand-off (service/storage/intake_postgres.py).
- SQLite (a file): `SqliteIntake`, one dedicated writer thread that owns its connection and wakes
  the loop once per batch (service/storage/intake_sqlite.py).
- Anything else (an in-memory SQLite, which exists in one engine's connections only):
  `EngineIntake`, the SQLAlchemy Core insert in a worker thread.

Every store gives the same guarantees: a batch is one transaction, committed (fsync'd) before
`write` returns; a key already stored, or repeated in the batch, is not stored again, and only the
keys that were new are returned; rows are inserted in key order, so two replicas writing
overlapping batches queue instead of deadlocking; a failed write raises, and nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import anyio
import anyio.to_thread
from sqlalchemy.engine import make_url

from service.storage.database import Database
from service.storage.inbox_repo import PENDING, UNRESOLVED, Delivery, insert_deliveries, touch_last_webhook

DeliveryKey = tuple[str, str]  # (provider, delivery_key)


class IntakeStore(Protocol):
    async def write(
        self, deliveries: Sequence[Delivery], now: datetime, touch: Sequence[str]
    ) -> set[DeliveryKey]:
        """Store the new deliveries and set `provider_status.last_webhook_at` of `touch` to `now`,
        in one committed transaction; return the keys that were new."""
        ...

    async def close(self) -> None: ...


def unique_in_key_order(deliveries: Sequence[Delivery]) -> list[Delivery]:
    """The first copy of each key, in key order (the order every writer takes index locks in)."""
    unique: dict[DeliveryKey, Delivery] = {}
    for d in deliveries:
        unique.setdefault((d.provider, d.delivery_key), d)
    return [unique[key] for key in sorted(unique)]


def status_of(delivery: Delivery) -> str:
    return UNRESOLVED if delivery.needs_resolution else PENDING


async def open_intake(db: Database) -> IntakeStore:
    """The fastest store for `db`'s database; call `close()` when done."""
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        # Each driver's store is imported only where its database is in use.
        from service.storage.intake_postgres import PostgresIntake  # noqa: PLC0415

        return PostgresIntake(url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from service.storage.intake_sqlite import SqliteIntake  # noqa: PLC0415

        return SqliteIntake.open(make_url(url).database or "")
    return EngineIntake(db)


class EngineIntake:
    """Through SQLAlchemy, in a worker thread (one write at a time)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._limiter = anyio.CapacityLimiter(1)

    async def write(
        self, deliveries: Sequence[Delivery], now: datetime, touch: Sequence[str]
    ) -> set[DeliveryKey]:
        return await anyio.to_thread.run_sync(self._write, deliveries, now, touch, limiter=self._limiter)

    def _write(self, deliveries: Sequence[Delivery], now: datetime, touch: Sequence[str]) -> set[DeliveryKey]:
        with self._db.write_intake() as conn:
            new_keys = insert_deliveries(conn, deliveries, now)
            if touch:
                touch_last_webhook(conn, touch, now)
        return new_keys

    async def close(self) -> None:
        return None
