"""Push subscriptions the service holds with its providers (Graph, Workspace Events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from integrations.base import ProviderSubscription
from service.storage.tables import subscriptions

ACTIVE = "active"
FAILED = "failed"
DELETED = "deleted"


@dataclass(frozen=True)
class StoredSubscription:
    provider: str
    resource: str
    provider_subscription_id: str | None
    expires_at: datetime | None
    state: str
    last_error: str | None
    updated_at: datetime

    def as_provider_subscription(self) -> ProviderSubscription | None:
        if self.provider_subscription_id is None or self.expires_at is None:
            return None
        return ProviderSubscription(self.resource, self.provider_subscription_id, self.expires_at)


def for_provider(conn: Connection, provider: str) -> dict[str, StoredSubscription]:
    return {s.resource: s for s in _load(conn, subscriptions.c.provider == provider)}


def load_all(conn: Connection) -> list[StoredSubscription]:
    return _load(conn, None)


def _load(conn: Connection, condition: object) -> list[StoredSubscription]:
    c = subscriptions.c
    stmt = select(subscriptions).order_by(c.provider, c.resource)
    if condition is not None:
        stmt = stmt.where(condition)  # type: ignore[arg-type]
    return [
        StoredSubscription(
            r.provider,
            r.resource,
            r.provider_subscription_id,
            r.expires_at,
            r.state,
            r.last_error,
            r.updated_at,
        )
        for r in conn.execute(stmt)
    ]


def record_active(conn: Connection, provider: str, held: ProviderSubscription, now: datetime) -> None:
    _upsert(
        conn,
        provider,
        held.resource,
        provider_subscription_id=held.provider_subscription_id[:200],
        expires_at=held.expires_at,
        state=ACTIVE,
        last_error=None,
        updated_at=now,
    )


def record_failure(conn: Connection, provider: str, resource: str, error: str, now: datetime) -> None:
    """Kept with the subscription it concerns; an active one stays active until it expires."""
    _upsert(conn, provider, resource, last_error=error[:2000], updated_at=now, state=None)


def record_deleted(conn: Connection, provider: str, resource: str, now: datetime) -> None:
    c = subscriptions.c
    conn.execute(
        update(subscriptions)
        .where(c.provider == provider, c.resource == resource)
        .values(state=DELETED, provider_subscription_id=None, expires_at=None, updated_at=now)
    )


def _upsert(conn: Connection, provider: str, resource: str, *, state: str | None, **values: object) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    changes = dict(values)
    if state is not None:
        changes["state"] = state
    stmt = dialect.insert(subscriptions).values(
        provider=provider, resource=resource[:400], state=state or FAILED, **values
    )
    conn.execute(stmt.on_conflict_do_update(index_elements=["provider", "resource"], set_=changes))
