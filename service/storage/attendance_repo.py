"""Attendance events (deduplicated), reported sessions and the materialised attendance record."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from service.domain.attendance import IdentifiedBy
from service.domain.events import PARTICIPANT_EVENT_TYPES, AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import Classification, ProviderName
from service.domain.reports import AttendanceReport, ReportedSession
from service.storage.tables import attendance_events, meetings, participant_attendance, reported_sessions

PARTICIPANT_EVENTS = PARTICIPANT_EVENT_TYPES


def insert_events(conn: Connection, events: Sequence[tuple[AttendanceEvent, int | None]]) -> int:
    """Store (event, delivery id) pairs once per (provider, meeting, event key); returns how many were new."""
    if not events:
        return 0
    # One global order for inserts: two workers inserting overlapping events never deadlock.
    events = sorted(
        events, key=lambda pair: (pair[0].provider.value, pair[0].provider_meeting_id, pair[0].event_key)
    )
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(attendance_events)
        .on_conflict_do_nothing(index_elements=["provider", "provider_meeting_id", "event_key"])
        .returning(attendance_events.c.id)
    )
    rows = conn.execute(
        stmt,
        [
            {
                "provider": e.provider.value,
                "provider_meeting_id": e.provider_meeting_id,
                "event_key": e.event_key,
                "type": e.type.value,
                "occurred_at": e.occurred_at,
                "email": e.participant.email if e.participant else None,
                "provider_participant_id": e.participant.provider_participant_id if e.participant else None,
                "participant_name": e.participant.name if e.participant else None,
                "session_key": e.session_key,
                "meeting_title": e.meeting_title,
                "host_email": e.host_email,
                "provider_meeting_instance": e.provider_meeting_instance,
                "delivery_id": delivery_id,
                "registrant_id": e.participant.registrant_id if e.participant else None,
            }
            for e, delivery_id in events
        ],
    ).all()
    return len(rows)


def load_events(
    conn: Connection, provider: ProviderName, provider_meeting_id: str, instance: str | None = None
) -> list[AttendanceEvent]:
    """A meeting's events: of every instance under its id, or of the one `instance`."""
    c = attendance_events.c
    query = select(attendance_events).where(
        c.provider == provider.value, c.provider_meeting_id == provider_meeting_id
    )
    if instance is not None:
        query = query.where(func.coalesce(c.provider_meeting_instance, "") == instance)
    rows = conn.execute(query.order_by(c.occurred_at, c.id)).all()
    events: list[AttendanceEvent] = []
    for r in rows:
        kind = EventType(r.type)
        participant = (
            ParticipantIdentity(r.email, r.provider_participant_id, r.participant_name, r.registrant_id)
            if kind in PARTICIPANT_EVENTS
            else None
        )
        events.append(
            AttendanceEvent(
                provider=provider,
                provider_meeting_id=provider_meeting_id,
                type=kind,
                occurred_at=r.occurred_at,
                event_key=r.event_key,
                participant=participant,
                session_key=r.session_key,
                meeting_title=r.meeting_title,
                host_email=r.host_email,
                provider_meeting_instance=r.provider_meeting_instance,
            )
        )
    return events


def instance_first_seen(
    conn: Connection, provider: ProviderName, provider_meeting_id: str, instance: str
) -> datetime | None:
    """The earliest moment any stored event of one instance of a provider meeting tells of."""
    c = attendance_events.c
    first: datetime | None = conn.execute(
        select(func.min(c.occurred_at)).where(
            c.provider == provider.value,
            c.provider_meeting_id == provider_meeting_id,
            func.coalesce(c.provider_meeting_instance, "") == instance,
        )
    ).scalar()
    return first


def replace_reported_sessions(conn: Connection, meeting_id: str, sessions: Iterable[ReportedSession]) -> None:
    conn.execute(delete(reported_sessions).where(reported_sessions.c.meeting_id == meeting_id))
    rows = [
        {
            "meeting_id": meeting_id,
            "email": s.email,
            "provider_participant_id": s.provider_participant_id,
            "participant_name": s.name,
            "joined_at": s.joined_at,
            "left_at": s.left_at,
            "registrant_id": s.registrant_id,
            "in_waiting_room": s.in_waiting_room,
            "provider_meeting_instance": s.instance,
        }
        for s in sessions
    ]
    if rows:
        conn.execute(insert(reported_sessions), rows)


def load_reported(
    conn: Connection, meeting_id: str, *, reported_start: datetime | None, reported_end: datetime | None
) -> AttendanceReport:
    c = reported_sessions.c
    rows = conn.execute(
        select(reported_sessions).where(c.meeting_id == meeting_id).order_by(c.joined_at, c.id)
    ).all()
    return AttendanceReport(
        actual_start=reported_start,
        actual_end=reported_end,
        sessions=tuple(
            ReportedSession(
                r.email,
                r.provider_participant_id,
                r.participant_name,
                r.joined_at,
                r.left_at,
                registrant_id=r.registrant_id,
                in_waiting_room=r.in_waiting_room,
                instance=r.provider_meeting_instance,
            )
            for r in rows
        ),
    )


def write_participants(conn: Connection, meeting_id: str, participants: Sequence[Any]) -> None:
    """Replace the materialised per-participant rows (participants are `ParticipantAttendance`)."""
    conn.execute(delete(participant_attendance).where(participant_attendance.c.meeting_id == meeting_id))
    rows = [
        {
            "meeting_id": meeting_id,
            "participant_key": p.key,
            "email": p.email,
            "name": p.name,
            "classification": p.classification.value,
            "invited": p.invited,
            "attended_seconds": p.attended_seconds,
            "attended": p.attended,
            "first_join": p.first_join,
            "last_leave": p.last_leave,
            "late_seconds": p.late_seconds,
            "sessions": [
                [s.joined_at.isoformat(), s.left_at.isoformat() if s.left_at else None] for s in p.sessions
            ],
            "identified_by": None if p.identified_by is None else p.identified_by.value,
            "waiting_seconds": p.waiting_seconds,
        }
        for p in participants
    ]
    if rows:
        conn.execute(insert(participant_attendance), rows)
    count_attendance(conn, [meeting_id])


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def count_attendance(conn: Connection, meeting_ids: Sequence[str] | None = None) -> None:
    """Write the attendance counts of these meetings (None: all) onto their rows, from their
    participant rows: who attended (internal, external), who was invited and came, and the internal
    people's attended seconds. A meeting without participant rows counts zeros."""
    pa, m = participant_attendance.c, meetings.c
    internal = pa.classification == Classification.INTERNAL.value
    per_meeting = select(
        pa.meeting_id,
        _count(pa.attended).label("attended_count"),
        _count(and_(pa.attended, internal)).label("attended_internal_count"),
        _count(and_(pa.attended, pa.classification == Classification.EXTERNAL.value)).label(
            "attended_external_count"
        ),
        _count(pa.invited).label("invited_count"),
        _count(and_(pa.invited, pa.attended)).label("invited_attended_count"),
        func.coalesce(func.sum(case((internal, pa.attended_seconds), else_=0)), 0).label(
            "internal_attended_seconds"
        ),
    ).group_by(pa.meeting_id)
    reset = update(meetings)
    if meeting_ids is not None:
        per_meeting = per_meeting.where(pa.meeting_id.in_(meeting_ids))
        reset = reset.where(m.id.in_(meeting_ids))
    counted = per_meeting.subquery()
    columns = [c.name for c in counted.c if c.name != "meeting_id"]
    conn.execute(reset.values(dict.fromkeys(columns, 0)))
    conn.execute(
        update(meetings)
        .where(m.id == counted.c.meeting_id)
        .values({name: counted.c[name] for name in columns})
    )


def load_participants(conn: Connection, meeting_id: str) -> list[dict[str, Any]]:
    """The materialised rows (what reports aggregate); never-joined invitees last on both databases."""
    c = participant_attendance.c
    rows = conn.execute(
        select(participant_attendance)
        .where(c.meeting_id == meeting_id)
        .order_by(c.first_join.is_(None), c.first_join, c.participant_key)
    ).all()
    result: list[dict[str, Any]] = []
    for r in rows:
        result.append(
            {
                "key": r.participant_key,
                "email": r.email,
                "name": r.name,
                "classification": Classification(r.classification),
                "invited": r.invited,
                "attended_seconds": r.attended_seconds,
                "attended": r.attended,
                "first_join": r.first_join,
                "last_leave": r.last_leave,
                "late_seconds": r.late_seconds,
                "identified_by": None if r.identified_by is None else IdentifiedBy(r.identified_by),
                "waiting_seconds": r.waiting_seconds,
                "sessions": [
                    (datetime.fromisoformat(a), datetime.fromisoformat(b) if b else None)
                    for a, b in r.sessions
                ],
            }
        )
    return result
