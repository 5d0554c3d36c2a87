"""The attendance record's JSON (`AttendanceOut`), built from the record's stored form without a
pydantic model per participant: a meeting of 7,400 participants is served in milliseconds.

Each participant and session carries exactly the fields of `ParticipantOut` and `SessionOut`, in
their order, taken by name from the record (a schema field the domain record lacks is a KeyError,
and a test holds the two together); the values are already in pydantic's JSON form, as the
response model would give them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
import pydantic_core

from service.api.schemas import AttendanceOut, ParticipantOut, SessionOut
from service.domain.meeting import Meeting

_PARTICIPANT_FIELDS = tuple(ParticipantOut.model_fields)
_SESSION_FIELDS = tuple(SessionOut.model_fields)

# Reading and rendering a very large record holds the GIL for tens of milliseconds. With every
# reader on a thread of its own, the event loop (and so every webhook's 2xx) waits for the GIL
# behind all of them: 50 clients reading a 7,400-participant record held acks at ~800 ms (p50),
# 2.5 s (p99). The GIL runs one render at a time anyway, so one at a time costs the readers
# nothing (they were served a little faster) and acks came back in ~25 ms (bench/README.md).
RENDERS_AT_ONCE = 1
_render_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()


async def render_in_thread(render: Callable[[], bytes]) -> bytes:
    """`render` on a worker thread, at most `RENDERS_AT_ONCE` at a time per event loop; the rest
    wait on the loop, holding no thread."""
    loop = asyncio.get_running_loop()
    limiter = _render_limiters.get(loop)
    if limiter is None:
        limiter = _render_limiters[loop] = anyio.CapacityLimiter(RENDERS_AT_ONCE)
    return await anyio.to_thread.run_sync(render, limiter=limiter)


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
