"""/v1/meetings: the CRM's resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool

from service.api.auth import Caller, Scope, require_scope
from service.api.deps import Services, authenticated, services
from service.api.schemas import (
    AttendanceOut,
    MeetingCreate,
    MeetingOut,
    MeetingPage,
    MeetingPatch,
    ParticipantOut,
    SessionOut,
    minutes_between,
)
from service.domain.meeting import (
    ExternalRef,
    InvalidTimezone,
    MeetingKind,
    MeetingStatus,
    Person,
    ProviderName,
    Schedule,
)
from service.errors import InvalidInput, NotFound
from service.storage import meetings_repo
from service.usecases.record_attendance import compute_meeting_attendance
from service.usecases.schedule_meeting import AttendeeInput, MeetingChanges, MeetingInput

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])

CallerDep = Annotated[Caller, Depends(authenticated)]
ServicesDep = Annotated[Services, Depends(services)]


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


@router.post("", status_code=201, response_model=MeetingOut)
async def create_meeting(
    body: MeetingCreate, caller: CallerDep, svc: ServicesDep, response: Response
) -> MeetingOut:
    require_scope(caller, Scope.CRM)
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
async def get_meeting(meeting_id: str, caller: CallerDep, svc: ServicesDep) -> MeetingOut:
    require_scope(caller, Scope.CRM, Scope.REPORTS)
    meeting = await run_in_threadpool(svc.scheduler.get, meeting_id)
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.get("", response_model=MeetingPage)
async def list_meetings(
    caller: CallerDep,
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
    require_scope(caller, Scope.CRM, Scope.REPORTS)
    for name, value in (("from", start_from), ("to", start_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(
                f"'{name}' needs a UTC offset", details=[{"field": name, "code": "timezone_required"}]
            )
    after = None
    if cursor:
        try:
            after = meetings_repo.decode_cursor(cursor)
        except (ValueError, TypeError) as exc:
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
    meeting_id: str, body: MeetingPatch, caller: CallerDep, svc: ServicesDep
) -> MeetingOut:
    require_scope(caller, Scope.CRM)
    schedule = None
    if (
        body.start is not None
        or body.duration_minutes is not None
        or body.end is not None
        or body.timezone is not None
    ):
        current = await run_in_threadpool(svc.scheduler.get, meeting_id)
        start = body.start or current.schedule.start
        minutes = (
            body.duration_minutes
            if body.duration_minutes is not None
            else _minutes(start, body.end)
            if body.end is not None
            else current.schedule.duration_minutes
        )
        schedule = _schedule(start, minutes, body.timezone or current.schedule.timezone)
    changes = MeetingChanges(
        title=body.title,
        agenda=body.agenda,
        kind=body.kind,
        schedule=schedule,
        attendees=tuple(AttendeeInput(a.email, a.name, a.required) for a in body.attendees)
        if body.attendees is not None
        else None,
    )
    meeting = await run_in_threadpool(svc.scheduler.update, meeting_id, changes)
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.delete("/{meeting_id}", response_model=MeetingOut)
async def cancel_meeting(meeting_id: str, caller: CallerDep, svc: ServicesDep) -> MeetingOut:
    require_scope(caller, Scope.CRM)
    meeting = await run_in_threadpool(svc.scheduler.cancel, meeting_id)
    return MeetingOut.of(meeting, include_start_url=caller.is_admin)


@router.get("/{meeting_id}/attendance", response_model=AttendanceOut)
async def get_attendance(meeting_id: str, caller: CallerDep, svc: ServicesDep) -> AttendanceOut:
    require_scope(caller, Scope.CRM, Scope.REPORTS)

    def query() -> AttendanceOut:
        # Computed from the stored events at read time, so a live meeting's open sessions count
        # up to this moment rather than to the last refresh.
        with svc.db.read() as conn:
            meeting = meetings_repo.get_meeting(conn, meeting_id)
            if meeting is None:
                raise NotFound(f"no meeting {meeting_id!r}")
            record, _ = compute_meeting_attendance(conn, meeting, svc.attendance_policy, svc.clock())
        return AttendanceOut(
            meeting_id=meeting.id,
            provider=meeting.provider,
            actual_start=record.actual_start,
            actual_end=record.actual_end,
            actual_duration_seconds=record.actual_duration_seconds,
            completeness=meeting.completeness,
            completeness_reason=meeting.completeness_reason,
            participants=[
                ParticipantOut(
                    email=p.email,
                    name=p.name,
                    classification=p.classification,
                    invited=p.invited,
                    attended_seconds=p.attended_seconds,
                    attended=p.attended,
                    first_join=p.first_join,
                    last_leave=p.last_leave,
                    late_seconds=p.late_seconds,
                    sessions=[SessionOut(joined_at=x.joined_at, left_at=x.left_at) for x in p.sessions],
                )
                for p in record.participants
            ],
        )

    return await run_in_threadpool(query)
