"""Each meeting's attendance record as last computed, kept as a JSON document (see
`service.usecases.stored_attendance` for its form) so a read serves it instead of recomputing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from service.storage.tables import attendance_records, meetings


@dataclass(frozen=True)
class StoredRecord:
    inputs: str
    computed_at: datetime
    document: str


def store_record(
    conn: Connection, meeting_id: str, document: bytes, *, inputs: str, computed_at: datetime
) -> None:
    """Replace the meeting's stored record (in the transaction that writes the rest of it)."""
    conn.execute(delete(attendance_records).where(attendance_records.c.meeting_id == meeting_id))
    conn.execute(
        insert(attendance_records).values(
            meeting_id=meeting_id, inputs=inputs, computed_at=computed_at, record=document.decode()
        )
    )


def load_unless_dirty(conn: Connection, meeting_id: str) -> StoredRecord | None:
    """The meeting's stored record, unless something it is computed from arrived since (the meeting
    is dirty until the worker has recomputed it)."""
    r, m = attendance_records.c, meetings.c
    row = conn.execute(
        select(r.inputs, r.computed_at, r.record)
        .join_from(attendance_records, meetings, m.id == r.meeting_id)
        .where(r.meeting_id == meeting_id, m.attendance_dirty.is_(False))
    ).first()
    return None if row is None else StoredRecord(row.inputs, row.computed_at, row.record)
