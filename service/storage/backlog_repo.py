"""What waits in the database: the webhook inbox, CRM deliveries and the write-back outbox.

Read on every /metrics scrape, so only rows not yet done are counted: done rows are kept for
audit and grow without end, and each query here is a range of the table's (status, next attempt)
index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from service.storage import crm_repo, inbox_repo
from service.storage.tables import crm_deliveries, crm_outbox, webhook_deliveries

INBOX_WAITING = (inbox_repo.UNRESOLVED, inbox_repo.PENDING, inbox_repo.PARKED)
CRM_WAITING = (crm_repo.PENDING, crm_repo.PARKED)


@dataclass(frozen=True)
class Backlog:
    inbox: dict[tuple[str, str], int]  # (provider, status) -> deliveries
    crm_deliveries: dict[tuple[str, str], int]  # (crm, status) -> deliveries
    crm_outbox: dict[tuple[str, str], int]  # (crm, state) -> write-backs
    # Seconds the longest-due inbox delivery has been waiting for a worker (0 when none is due).
    inbox_oldest_due_seconds: float


def read_backlog(conn: Connection, now: datetime) -> Backlog:
    d = webhook_deliveries.c
    inbox = conn.execute(
        select(d.provider, d.status, func.count())
        .where(d.status.in_(INBOX_WAITING))
        .group_by(d.provider, d.status)
    ).all()
    oldest_due = conn.execute(
        select(func.min(d.next_attempt_at)).where(
            d.status.in_((inbox_repo.UNRESOLVED, inbox_repo.PENDING)), d.next_attempt_at <= now
        )
    ).scalar()
    c = crm_deliveries.c
    crm = conn.execute(
        select(c.crm, c.status, func.count()).where(c.status.in_(CRM_WAITING)).group_by(c.crm, c.status)
    ).all()
    o = crm_outbox.c
    outbox = conn.execute(
        select(o.crm, o.state, func.count()).where(o.state.in_(CRM_WAITING)).group_by(o.crm, o.state)
    ).all()
    return Backlog(
        inbox={(str(p), str(s)): int(n) for p, s, n in inbox},
        crm_deliveries={(str(k), str(s)): int(n) for k, s, n in crm},
        crm_outbox={(str(k), str(s)): int(n) for k, s, n in outbox},
        inbox_oldest_due_seconds=max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
    )
