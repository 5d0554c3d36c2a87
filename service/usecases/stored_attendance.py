"""The attendance record in the form it is stored and served in, and what makes a stored one current.

The form is pydantic's JSON form of the domain `AttendanceRecord` (its field names, RFC 3339
instants, enum values), so a field added to the record is stored and served without a change here.
A stored record is current when its meeting is not dirty (no event or report arrived since it was
computed) and `record_inputs` still gives what it gave then: the other inputs of the computation
(schedule, invitees, completeness, the company's policy) and the record's shape.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pydantic_core

from service.domain.attendance import AttendanceRecord, ParticipantAttendance, SessionSpan
from service.domain.meeting import CompanyDomains, Meeting

# Bump when the engine counts differently with the same inputs: every stored record is then
# recomputed on read until the worker refreshes it.
ENGINE_VERSION = 1

_SHAPE = [
    [f.name for f in dataclasses.fields(t)] for t in (AttendanceRecord, ParticipantAttendance, SessionSpan)
]


def record_document(record: AttendanceRecord) -> bytes:
    """The record as stored: JSON (UTF-8)."""
    return pydantic_core.to_json(record)


def record_as_document(record: AttendanceRecord) -> dict[str, Any]:
    """The record in the stored form, as parsed JSON (what a read of a stored record gives)."""
    document: dict[str, Any] = pydantic_core.to_jsonable_python(record)
    return document


def parse_document(stored: str | bytes) -> dict[str, Any]:
    document: dict[str, Any] = pydantic_core.from_json(stored)
    return document


def record_inputs(meeting: Meeting, company: CompanyDomains, min_attendance_seconds: int) -> str:
    """A fingerprint of everything besides the stored events and report that the record of
    `meeting` is computed from, and of the record's shape."""
    facts = {
        "engine": ENGINE_VERSION,
        "shape": _SHAPE,
        "provider": meeting.provider,
        "provider_meeting_id": meeting.provider_meeting_id,
        "provider_instance": meeting.provider_instance,
        "origin": meeting.origin,
        "start": meeting.schedule.start,
        "completeness": meeting.completeness,
        "organizer": [meeting.organizer.email, meeting.organizer.name],
        "invitees": [[a.email, a.name] for a in meeting.attendees],
        "internal_domains": company.domains,
        "min_attendance_seconds": min_attendance_seconds,
    }
    return hashlib.sha256(pydantic_core.to_json(facts)).hexdigest()
