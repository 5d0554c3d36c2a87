"""CRM connector storage: inbound deliveries (stored before the 2xx), per-record state, and the
write-back outbox. Work is claimed with a lease (a later `next_attempt_at`, committed at once), so
the CRM and the providers are called outside every transaction and no two workers take one row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.storage.tables import crm_deliveries, crm_outbox, crm_records, meetings

PENDING = "pending"
DONE = "done"
PARKED = "parked"
STATES = (PENDING, DONE, PARKED)
CLAIM = timedelta(minutes=2)
# What an admin reads of a stored error (which keeps up to 2,000 characters): the code and the
# CRM's first words say why; the rest of a long validation message is noise in a table.
ERROR_PREVIEW_CHARS = 300
# How many parked items an admin is shown per CRM and kind: enough to see whether one cause parked
# them all; the rest are in `crm_deliveries` and `crm_outbox`.
RECENT_PARKED = 5


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


# -- inbound deliveries -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCrmDelivery:
    id: int
    crm: str
    delivery_key: str
    body: bytes
    headers: Mapping[str, str]
    attempts: int


def insert_delivery(
    conn: Connection, crm: str, delivery_key: str, body: bytes, headers: Mapping[str, str], now: datetime
) -> bool:
    """Store a verified delivery once; False when the CRM sent this one before (a retry)."""
    stmt = (
        _dialect(conn)
        .insert(crm_deliveries)
        .values(
            crm=crm,
            delivery_key=delivery_key,
            received_at=now,
            body=body,
            headers=dict(headers),
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["crm", "delivery_key"])
        .returning(crm_deliveries.c.id)
    )
    return conn.execute(stmt).first() is not None


def claim_deliveries(conn: Connection, now: datetime, limit: int) -> list[StoredCrmDelivery]:
    """Take due deliveries, oldest first, for `CLAIM`."""
    c = crm_deliveries.c
    rows = conn.execute(
        select(c.id, c.crm, c.delivery_key, c.body, c.headers, c.attempts)
        .where(c.status == PENDING, c.next_attempt_at <= now)
        .order_by(c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        conn.execute(
            update(crm_deliveries).where(c.id.in_([r.id for r in rows])).values(next_attempt_at=now + CLAIM)
        )
    return [
        StoredCrmDelivery(r.id, r.crm, r.delivery_key, bytes(r.body), dict(r.headers or {}), r.attempts)
        for r in rows
    ]


def finish_delivery(conn: Connection, delivery_id: int, now: datetime) -> None:
    conn.execute(
        update(crm_deliveries)
        .where(crm_deliveries.c.id == delivery_id)
        .values(status=DONE, processed_at=now, last_error=None)
    )


def retry_delivery(
    conn: Connection, delivery_id: int, *, attempts: int, retry_at: datetime | None, error: str, now: datetime
) -> None:
    """Try again at `retry_at`; when None, park it (a replay sends it back)."""
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
    if retry_at is None:
        values.update(status=PARKED, processed_at=now)
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(update(crm_deliveries).where(crm_deliveries.c.id == delivery_id).values(**values))


def delivery_counts(conn: Connection) -> dict[tuple[str, str], int]:
    c = crm_deliveries.c
    rows = conn.execute(select(c.crm, c.status, func.count()).group_by(c.crm, c.status)).all()
    return {(str(crm), str(status)): int(n) for crm, status, n in rows}


@dataclass(frozen=True)
class ParkedDelivery:
    delivery_key: str
    attempts: int
    parked_at: datetime | None
    error: str | None


def recent_parked_deliveries(conn: Connection, crm: str, limit: int = RECENT_PARKED) -> list[ParkedDelivery]:
    """The CRM's most recently parked inbound deliveries, newest first, with why."""
    c = crm_deliveries.c
    rows = conn.execute(
        select(c.delivery_key, c.attempts, c.processed_at, c.last_error)
        .where(c.crm == crm, c.status == PARKED)
        .order_by(c.processed_at.desc(), c.id.desc())
        .limit(limit)
    ).all()
    return [
        ParkedDelivery(r.delivery_key, r.attempts, r.processed_at, error_preview(r.last_error)) for r in rows
    ]


def error_preview(error: str | None) -> str | None:
    if error is None or len(error) <= ERROR_PREVIEW_CHARS:
        return error
    return error[: ERROR_PREVIEW_CHARS - 1] + "…"


def requeue_deliveries(conn: Connection, *, crm: str | None, status: str | None, now: datetime) -> int:
    c = crm_deliveries.c
    stmt = update(crm_deliveries).values(status=PENDING, next_attempt_at=now, attempts=0)
    if crm is not None:
        stmt = stmt.where(c.crm == crm)
    if status is not None:
        stmt = stmt.where(c.status == status)
    return int(conn.execute(stmt).rowcount)


# -- per-record state --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordState:
    meeting_id: str | None
    applied_version: int | None
    context: Mapping[str, object]


def record_state(conn: Connection, crm: str, object_id: str) -> RecordState | None:
    c = crm_records.c
    row = conn.execute(
        select(c.meeting_id, c.applied_version, c.context).where(c.crm == crm, c.object_id == object_id)
    ).first()
    return None if row is None else RecordState(row.meeting_id, row.applied_version, dict(row.context or {}))


def save_record(
    conn: Connection,
    crm: str,
    object_id: str,
    *,
    meeting_id: str | None,
    version: int | None,
    context: Mapping[str, object],
    now: datetime,
) -> None:
    values = {
        "meeting_id": meeting_id,
        "applied_version": version,
        "context": dict(context),
        "updated_at": now,
    }
    stmt = _dialect(conn).insert(crm_records).values(crm=crm, object_id=object_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["crm", "object_id"], set_=values))


def contexts_for(conn: Connection, crm: str, object_ids: Sequence[str]) -> dict[str, Mapping[str, object]]:
    c = crm_records.c
    rows = conn.execute(select(c.object_id, c.context).where(c.crm == crm, c.object_id.in_(object_ids))).all()
    return {r.object_id: dict(r.context or {}) for r in rows}


# -- the write-back outbox ---------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    id: int
    crm: str
    meeting_id: str
    remote_id: str | None
    attempts: int
    meeting_version: datetime


def enqueue_settled_meetings(conn: Connection, crm: str, now: datetime, limit: int = 500) -> int:
    """Queue the write-back of the CRM's meetings that were reconciled (or gave up on a report)
    or cancelled since their last write; returns how many were queued."""
    m, o = meetings.c, crm_outbox.c
    settled = or_(m.status == "cancelled", m.completeness.in_(("reconciled", "partial")))
    rows = conn.execute(
        select(m.id, m.updated_at)
        .select_from(meetings.outerjoin(crm_outbox, and_(o.meeting_id == m.id, o.crm == crm)))
        .where(
            m.external_system == crm,
            settled,
            or_(o.id.is_(None), o.meeting_version < m.updated_at),
        )
        .order_by(m.updated_at)
        .limit(limit)
    ).all()
    for row in rows:
        values = {
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "meeting_version": row.updated_at,
            "updated_at": now,
        }
        stmt = (
            _dialect(conn)
            .insert(crm_outbox)
            .values(crm=crm, meeting_id=row.id, created_at=now, **values)
            .on_conflict_do_update(index_elements=["crm", "meeting_id"], set_=values)
        )
        conn.execute(stmt)
    return len(rows)


def claim_outbox(conn: Connection, crms: Sequence[str], now: datetime, limit: int) -> list[OutboxItem]:
    c = crm_outbox.c
    rows = conn.execute(
        select(c.id, c.crm, c.meeting_id, c.remote_id, c.attempts, c.meeting_version)
        .where(c.state == PENDING, c.next_attempt_at <= now, c.crm.in_(crms))
        .order_by(c.next_attempt_at, c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        conn.execute(
            update(crm_outbox).where(c.id.in_([r.id for r in rows])).values(next_attempt_at=now + CLAIM)
        )
    return [OutboxItem(r.id, r.crm, r.meeting_id, r.remote_id, r.attempts, r.meeting_version) for r in rows]


def remember_remote_id(conn: Connection, item_id: int, remote_id: str, now: datetime) -> None:
    conn.execute(
        update(crm_outbox).where(crm_outbox.c.id == item_id).values(remote_id=remote_id, updated_at=now)
    )


def outbox_written(conn: Connection, item_id: int, *, remote_id: str, outcome: str, now: datetime) -> None:
    conn.execute(
        update(crm_outbox)
        .where(crm_outbox.c.id == item_id)
        .values(
            state=DONE, remote_id=remote_id, outcome=outcome, written_at=now, last_error=None, updated_at=now
        )
    )


def outbox_retry(
    conn: Connection, item_id: int, *, attempts: int, retry_at: datetime | None, error: str, now: datetime
) -> None:
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000], "updated_at": now}
    if retry_at is None:
        values["state"] = PARKED
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(update(crm_outbox).where(crm_outbox.c.id == item_id).values(**values))


@dataclass(frozen=True)
class OutboxSummary:
    crm: str
    counts: Mapping[str, int]
    oldest_pending_at: datetime | None
    last_written_at: datetime | None
    last_error: str | None


def outbox_summary(conn: Connection, crm: str) -> OutboxSummary:
    c = crm_outbox.c
    counts = {
        str(state): int(n)
        for state, n in conn.execute(
            select(c.state, func.count()).where(c.crm == crm).group_by(c.state)
        ).all()
    }
    oldest = conn.execute(select(func.min(c.created_at)).where(c.crm == crm, c.state == PENDING)).scalar()
    written = conn.execute(select(func.max(c.written_at)).where(c.crm == crm)).scalar()
    error = conn.execute(
        select(c.last_error)
        .where(c.crm == crm, c.last_error.is_not(None))
        .order_by(c.updated_at.desc())
        .limit(1)
    ).scalar()
    return OutboxSummary(crm, {s: counts.get(s, 0) for s in STATES}, oldest, written, error)


@dataclass(frozen=True)
class ParkedWriteBack:
    meeting_id: str
    record_id: str | None  # the CRM record the meeting came from (the deal, the event)
    remote_id: str | None
    attempts: int
    parked_at: datetime
    error: str | None


def recent_parked_write_backs(
    conn: Connection, crm: str, limit: int = RECENT_PARKED
) -> list[ParkedWriteBack]:
    """The CRM's most recently parked write-backs, newest first, with why."""
    o, m = crm_outbox.c, meetings.c
    rows = conn.execute(
        select(o.meeting_id, m.external_id, o.remote_id, o.attempts, o.updated_at, o.last_error)
        .select_from(crm_outbox.join(meetings, m.id == o.meeting_id))
        .where(o.crm == crm, o.state == PARKED)
        .order_by(o.updated_at.desc(), o.id.desc())
        .limit(limit)
    ).all()
    return [
        ParkedWriteBack(
            r.meeting_id, r.external_id, r.remote_id, r.attempts, r.updated_at, error_preview(r.last_error)
        )
        for r in rows
    ]


def outbox_crms(conn: Connection) -> list[str]:
    return [str(crm) for crm in conn.execute(select(crm_outbox.c.crm).distinct()).scalars()]


def requeue_outbox(conn: Connection, *, crm: str | None, state: str | None, now: datetime) -> int:
    c = crm_outbox.c
    stmt = update(crm_outbox).values(state=PENDING, next_attempt_at=now, attempts=0, updated_at=now)
    if crm is not None:
        stmt = stmt.where(c.crm == crm)
    if state is not None:
        stmt = stmt.where(c.state == state)
    return int(conn.execute(stmt).rowcount)
