"""Serving a meeting's attendance record: the one the worker stored when it is current, else one
computed now from the stored events (as every read did before records were stored).

A meeting of thousands of participants takes about a second to compute and only milliseconds to
serve stored. While a meeting is live its open sessions count up to the moment of the request: a
stored record of a live meeting has each participant's attended time counted again from its
listed sessions up to now, the way the engine counts it, so it reads the same as one computed now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.attendance import SessionSpan, seconds_attended_until
from service.domain.meeting import Meeting
from service.errors import NotFound
from service.storage import attendance_records_repo, meetings_repo
from service.storage.database import Database
from service.usecases.record_attendance import AttendancePolicy, compute_meeting_attendance
from service.usecases.stored_attendance import parse_document, record_as_document, record_inputs


@dataclass(frozen=True)
class AttendanceView:
    meeting: Meeting
    # The record in its stored form (`stored_attendance`): field names of `AttendanceRecord`.
    record: dict[str, Any]
    served_stored: bool


def read_attendance(db: Database, meeting_id: str, policy: AttendancePolicy, now: datetime) -> AttendanceView:
    with db.read() as conn:
        meeting = meetings_repo.get_meeting(conn, meeting_id)
        if meeting is None:
            raise NotFound(f"no meeting {meeting_id!r}")
        stored = attendance_records_repo.load_unless_dirty(conn, meeting_id)
        current = stored is not None and stored.inputs == record_inputs(
            meeting, policy.company, policy.min_attendance_seconds
        )
        if not current:
            record, _ = compute_meeting_attendance(conn, meeting, policy, now)
    if not current:
        return AttendanceView(meeting, record_as_document(record), served_stored=False)
    assert stored is not None
    document = parse_document(stored.document)
    if document["actual_end"] is None:
        _count_open_sessions_until(document, now, policy.min_attendance_seconds)
    return AttendanceView(meeting, document, served_stored=True)


def _count_open_sessions_until(document: dict[str, Any], now: datetime, min_attendance_seconds: int) -> None:
    """Bring a live meeting's stored record to `now`: the only figures that move with the clock are
    each participant's attended seconds (and so whether they attended)."""
    for participant in document["participants"]:
        sessions = participant["sessions"]
        if not sessions:
            continue
        seconds = seconds_attended_until(
            (
                SessionSpan(
                    datetime.fromisoformat(s["joined_at"]),
                    None if s["left_at"] is None else datetime.fromisoformat(s["left_at"]),
                )
                for s in sessions
            ),
            now,
        )
        participant["attended_seconds"] = seconds
        participant["attended"] = seconds >= min_attendance_seconds
