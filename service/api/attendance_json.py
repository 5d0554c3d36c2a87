"""The attendance record's JSON (`AttendanceOut`), built from the record's stored form without a
pydantic model per participant: a meeting of 7,400 participants is served in milliseconds.

Each participant and session carries exactly the fields of `ParticipantOut` and `SessionOut`, in
their order, taken by name from the record (a schema field the domain record lacks is a KeyError,
and a test holds the two together); the values are already in pydantic's JSON form, as the
response model would give them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic_core

from service.api.schemas import AttendanceOut, ParticipantOut, SessionOut
from service.domain.meeting import Meeting

_PARTICIPANT_FIELDS = tuple(ParticipantOut.model_fields)
_SESSION_FIELDS = tuple(SessionOut.model_fields)


def attendance_json(meeting: Meeting, record: Mapping[str, Any]) -> bytes:
    """`record` is an attendance record in its stored form (`service.usecases.stored_attendance`)."""
    head = AttendanceOut(
        meeting_id=meeting.id,
        provider=meeting.provider,
        completeness=meeting.completeness,
        completeness_reason=meeting.completeness_reason,
        participants=[],
        **{
            name: record[name]
            for name in AttendanceOut.model_fields
            if name in record and name != "participants"
        },
    ).model_dump(mode="json")
    head["participants"] = [_participant(p) for p in record["participants"]]
    return pydantic_core.to_json(head)


def _participant(participant: Mapping[str, Any]) -> dict[str, Any]:
    shown = {name: participant[name] for name in _PARTICIPANT_FIELDS}
    shown["sessions"] = [{name: s[name] for name in _SESSION_FIELDS} for s in participant["sessions"]]
    return shown
