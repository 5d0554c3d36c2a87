"""/v1/meetings: the CRM's resource."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from service.api.attendance_json import attendance_json, render_in_thread
from service.api.deps import CrmCaller, ReaderCaller, ServicesDep
from service.api.error_docs import V1_ERRORS
from service.api.schemas import (
    AttendanceOut,
    MeetingCreate,
    MeetingOut,
    MeetingPage,
    MeetingPatch,
)
from service.domain.meeting import (
    ExternalRef,
    InvalidTimezone,
    MeetingKind,
    MeetingStatus,
    Person,
    ProviderName,
    Schedule,
    check_instant,
    minutes_between,
)
from service.errors import InvalidInput, NotFound
from service.storage import meetings_repo
from service.usecases.read_attendance import read_attendance
from service.usecases.schedule_meeting import AttendeeInput, MeetingChanges, MeetingInput

router = APIRouter(prefix="/v1/meetings", tags=["meetings"], responses=V1_ERRORS)


def _meeting_id(meeting_id: str) -> str:
    """Ids are UUIDs; anything else cannot name a meeting (and never reaches the database)."""
    try:
        return str(uuid.UUID(meeting_id))
    except ValueError:
        raise NotFound(f"no meeting {meeting_id[:64]!r}") from None


def _clean_query(name: str, value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise InvalidInput(
            f"'{name}' must not contain NUL characters",
            details=[{"field": name, "code": "invalid_characters"}],
        )
    return value


def _query_instant(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            raise ValueError("needs a UTC offset")
        return check_instant(value)
    except ValueError as exc:
        raise InvalidInput(
            f"'{name}' {exc}", details=[{"field": name, "code": "invalid_instant", "message": str(exc)}]
        ) from None


def _schedule(start: datetime, minutes: int, timezone: str) -> Schedule:
    try:
        return Schedule(start, minutes, timezone)
    except InvalidTimezone as exc:
        raise InvalidInput(
            str(exc), details=[{"field": "timezone", "code": "invalid_timezone", "message": str(exc)}]
        ) from exc


def _minutes(start: datetime, end: datetime) -> int:
    try:
        return minutes_between(start, end)
    except ValueError as exc:
        raise InvalidInput(
            str(exc), details=[{"field": "end", "code": "invalid_end", "message": str(exc)}]
        ) from exc


@router.post(
    "",
    status_code=201,
    response_model=MeetingOut,
    # Documented so generated clients (Salesforce External Services) read the retry's answer too.
    responses={200: {"model": MeetingOut, "description": "The meeting already known by its `external_ref`."}},
)
async def create_meeting(
    body: MeetingCreate, caller: CrmCaller, svc: ServicesDep, response: Response
) -> MeetingOut:
    minutes = (
        body.duration_minutes
        if body.duration_minutes is not None
        else _minutes(body.start, body.end or body.start)
    )
    data = MeetingInput(
        title=body.title,
        agenda=body.agenda,
        kind=body.kind,
        schedule=_schedule(body.start, minutes, body.timezone),
        organizer=Person(body.organizer.email, body.organizer.name),
        attendees=tuple(AttendeeInput(a.email, a.name, a.required) for a in body.attendees),
        external_ref=ExternalRef(body.external_ref.system, body.external_ref.id)
        if body.external_ref
        else None,
        provider=body.provider,
    )
    meeting, created = await run_in_threadpool(svc.scheduler.create, data)
    response.status_code = 201 if created else 200
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.get("/{meeting_id}", response_model=MeetingOut)
async def get_meeting(meeting_id: str, caller: ReaderCaller, svc: ServicesDep) -> MeetingOut:
    meeting = await run_in_threadpool(svc.scheduler.get, _meeting_id(meeting_id))
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.get("", response_model=MeetingPage)
async def list_meetings(
    caller: ReaderCaller,
    svc: ServicesDep,
    external_system: str | None = None,
    external_id: str | None = None,
    kind: MeetingKind | None = None,
    provider: ProviderName | None = None,
    organizer: str | None = None,
    start_from: Annotated[datetime | None, Query(alias="from")] = None,
    start_to: Annotated[datetime | None, Query(alias="to")] = None,
    status: MeetingStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> MeetingPage:
    start_from, start_to = _query_instant("from", start_from), _query_instant("to", start_to)
    for name, value in (
        ("external_system", external_system),
        ("external_id", external_id),
        ("organizer", organizer),
        ("cursor", cursor),
    ):
        _clean_query(name, value)
    after = None
    if cursor:
        try:
            after = meetings_repo.decode_cursor(cursor)
            _meeting_id(after[1])
            check_instant(after[0])
        except (ValueError, TypeError, NotFound) as exc:
            raise InvalidInput(
                "invalid cursor", details=[{"field": "cursor", "code": "invalid_cursor"}]
            ) from exc
    flt = meetings_repo.MeetingFilter(
        external_system=external_system,
        external_id=external_id,
        kind=kind,
        provider=provider,
        organizer=organizer,
        start_from=start_from,
        start_to=start_to,
        status=status,
    )

    def query() -> MeetingPage:
        with svc.db.read() as conn:
            items, next_key = meetings_repo.list_meetings(conn, flt, limit=limit, after=after)
        return MeetingPage(
            items=[MeetingOut.of(m, include_start_url=caller.is_admin) for m in items],
            next_cursor=meetings_repo.encode_cursor(*next_key) if next_key else None,
        )

    return await run_in_threadpool(query)


@router.patch("/{meeting_id}", response_model=MeetingOut)
async def update_meeting(
    meeting_id: str, body: MeetingPatch, caller: CrmCaller, svc: ServicesDep
) -> MeetingOut:
    changes = MeetingChanges(
        title=body.title,
        agenda=body.agenda,
        kind=body.kind,
        start=body.start,
        duration_minutes=body.duration_minutes,
        end=body.end,
        timezone=body.timezone,
        attendees=tuple(AttendeeInput(a.email, a.name, a.required) for a in body.attendees)
        if body.attendees is not None
        else None,
    )
    meeting = await run_in_threadpool(svc.scheduler.update, _meeting_id(meeting_id), changes)
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.delete("/{meeting_id}", response_model=MeetingOut)
async def cancel_meeting(meeting_id: str, caller: CrmCaller, svc: ServicesDep) -> MeetingOut:
    meeting = await run_in_threadpool(svc.scheduler.cancel, _meeting_id(meeting_id))
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.get("/{meeting_id}/attendance", response_model=AttendanceOut)
async def get_attendance(meeting_id: str, caller: ReaderCaller, svc: ServicesDep) -> Response:
    meeting_id = _meeting_id(meeting_id)

    def query() -> bytes:
        # The record the worker stored when it is current (a live meeting's open sessions are
        # counted up to this moment), else computed from the stored events now.
        view = read_attendance(svc.db, meeting_id, svc.attendance_policy, svc.clock())
        return attendance_json(view.meeting, view.record)

    return Response(await render_in_thread(query), media_type="application/json")
