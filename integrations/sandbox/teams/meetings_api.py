"""Graph's users, onlineMeetings (createOrGet, get, PATCH, DELETE, $filter by JoinWebUrl) and
their attendance reports and records, as strict as Graph about paths, bodies and ownership."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from integrations.sandbox.teams.config import EntraUser
from integrations.sandbox.teams.guard import BadBody, guard, json_object
from integrations.sandbox.teams.paging import paged
from integrations.sandbox.teams.state import OnlineMeeting, TeamsEmulatorState
from integrations.sandbox.teams.wire import (
    attendance_record_json,
    attendance_report_json,
    graph_error,
    meeting_json,
    parse_graph_time,
)

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ROLES = frozenset({"attendee", "presenter", "producer", "coorganizer"})
_CREATE_FIELDS = frozenset({"externalId", "subject", "startDateTime", "endDateTime", "participants"})
_UPDATE_FIELDS = frozenset({"subject", "startDateTime", "endDateTime", "participants"})
_JOIN_URL_FILTER = re.compile(r"^JoinWebUrl eq '(?P<url>.+)'$")


def _not_found(what: str) -> JSONResponse:
    return graph_error(404, "NotFound", f"{what} was not found.")


def _bad_request(message: str) -> JSONResponse:
    return graph_error(400, "BadRequest", message)


def _organizer(state: TeamsEmulatorState, user_ref: str) -> EntraUser | JSONResponse:
    """The user an onlineMeetings path names: app-only calls take the Entra object id only, and
    the tenant's application access policy must grant the app that user."""
    if not _GUID.fullmatch(user_ref):
        return _bad_request(f"'{user_ref}' is not a valid user object id; app-only calls need the object id.")
    user = state.config.user_by_id(user_ref)
    if user is None:
        return graph_error(404, "NotFound", f"User '{user_ref}' was not found.")
    allowed = state.config.access_policy_user_ids
    if allowed is not None and user.id not in allowed:
        return graph_error(
            403,
            "Forbidden",
            "Application does not have permission to access this user's online meetings: "
            "no application access policy found for this app.",
        )
    return user


def _owned_meeting(
    state: TeamsEmulatorState, user: EntraUser, meeting_id: str
) -> OnlineMeeting | JSONResponse:
    meeting = state.meeting(meeting_id)
    if meeting is None or meeting.organizer.id != user.id:
        return _not_found(f"Online meeting '{meeting_id}'")
    return meeting


def _attendees(value: object) -> list[dict[str, Any]]:
    """`participants.attendees` as Graph takes it: a list of {identity{user{id}}?, upn?, role?}."""
    if not isinstance(value, dict):
        raise BadBody("participants must be an object.")
    unknown = set(value) - {"organizer", "attendees"}
    if unknown:
        raise BadBody(f"Invalid property '{sorted(unknown)[0]}' in participants.")
    attendees = value.get("attendees", [])
    if not isinstance(attendees, list):
        raise BadBody("participants.attendees must be an array.")
    cleaned: list[dict[str, Any]] = []
    for attendee in attendees:
        if not isinstance(attendee, dict):
            raise BadBody("Each attendee must be an object.")
        upn = attendee.get("upn")
        identity = attendee.get("identity")
        if upn is None and identity is None:
            raise BadBody("An attendee needs an upn or an identity.")
        if upn is not None and (not isinstance(upn, str) or "@" not in upn):
            raise BadBody(f"Invalid attendee upn '{upn}'.")
        role = attendee.get("role", "attendee")
        if not isinstance(role, str) or role.lower() not in _ROLES:
            raise BadBody(f"Invalid attendee role '{role}'.")
        cleaned.append({"upn": upn, "role": role, "identity": identity})
    return cleaned


def _times(body: dict[str, object]) -> tuple[datetime, datetime] | None:
    has_start, has_end = "startDateTime" in body, "endDateTime" in body
    if not has_start and not has_end:
        return None
    if has_start != has_end:
        raise BadBody("startDateTime and endDateTime must be given together.")
    start, end = parse_graph_time(body["startDateTime"]), parse_graph_time(body["endDateTime"])
    if start is None or end is None:
        raise BadBody("startDateTime and endDateTime must be ISO 8601 times with an offset.")
    if end <= start:
        raise BadBody("endDateTime must be after startDateTime.")
    return start, end


def _subject(body: dict[str, object]) -> str | None:
    if "subject" not in body:
        return None
    subject = body["subject"]
    if not isinstance(subject, str) or len(subject) > 255:
        raise BadBody("subject must be a string of at most 255 characters.")
    return subject


def add_meeting_routes(app: FastAPI, state: TeamsEmulatorState) -> None:
    tenant = state.config.tenant_id

    @app.get("/v1.0/users/{user_ref}")
    async def get_user(user_ref: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        user = state.config.user(user_ref)
        if user is None:
            return graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{user_ref}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        return JSONResponse(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                "id": user.id,
                "displayName": user.display_name,
                "userPrincipalName": user.upn,
                "mail": user.upn,
            }
        )

    @app.post("/v1.0/users/{user_ref}/onlineMeetings/createOrGet")
    async def create_or_get(user_ref: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        user = _organizer(state, user_ref)
        if isinstance(user, JSONResponse):
            return user
        try:
            body = await json_object(request)
            unknown = set(body) - _CREATE_FIELDS
            if unknown:
                raise BadBody(f"Invalid request property '{sorted(unknown)[0]}'.")
            external_id = body.get("externalId")
            if not isinstance(external_id, str) or not external_id.strip():
                raise BadBody("externalId is required.")
            times = _times(body)
            subject = _subject(body)
            attendees = _attendees(body["participants"]) if "participants" in body else []
        except BadBody as bad:
            return _bad_request(str(bad))
        with state.lock:
            existing = state.meeting_by_external_id(user, external_id)
            if existing is not None:
                return JSONResponse(meeting_json(existing, tenant), status_code=200)
            start, end = times or (state.now(), state.now() + timedelta(hours=1))
            meeting = state.add_meeting(
                user,
                subject=subject or "",
                start=start,
                end=end,
                attendees=attendees,
                external_id=external_id,
            )
        return JSONResponse(meeting_json(meeting, tenant), status_code=201)

    @app.get("/v1.0/users/{user_ref}/onlineMeetings")
    async def list_by_join_url(user_ref: str, request: Request) -> JSONResponse:
        """Graph lists online meetings only through `$filter=JoinWebUrl eq '...'`."""
        if (refused := await guard(request, state)) is not None:
            return refused
        user = _organizer(state, user_ref)
        if isinstance(user, JSONResponse):
            return user
        match = _JOIN_URL_FILTER.match(request.query_params.get("$filter", ""))
        if match is None:
            return _bad_request("Filter by JoinWebUrl is required: $filter=JoinWebUrl eq '<url>'.")
        url = match.group("url").replace("''", "'")
        with state.lock:
            found = [
                m for m in state.meetings.values() if m.organizer.id == user.id and m.join_web_url == url
            ]
        return JSONResponse({"value": [meeting_json(m, tenant) for m in found]})

    @app.get("/v1.0/users/{user_ref}/onlineMeetings/{meeting_id}")
    async def get_meeting(user_ref: str, meeting_id: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        user = _organizer(state, user_ref)
        if isinstance(user, JSONResponse):
            return user
        meeting = _owned_meeting(state, user, meeting_id)
        if isinstance(meeting, JSONResponse):
            return meeting
        return JSONResponse(meeting_json(meeting, tenant))

    @app.patch("/v1.0/users/{user_ref}/onlineMeetings/{meeting_id}")
    async def update_meeting(user_ref: str, meeting_id: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        user = _organizer(state, user_ref)
        if isinstance(user, JSONResponse):
            return user
        meeting = _owned_meeting(state, user, meeting_id)
        if isinstance(meeting, JSONResponse):
            return meeting
        try:
            body = await json_object(request)
            unknown = set(body) - _UPDATE_FIELDS
            if unknown:
                raise BadBody(f"Property '{sorted(unknown)[0]}' cannot be updated.")
            times = _times(body)
            subject = _subject(body)
            attendees = _attendees(body["participants"]) if "participants" in body else None
        except BadBody as bad:
            return _bad_request(str(bad))
        with state.lock:
            if times is not None:
                meeting.start, meeting.end = times
            if subject is not None:
                meeting.subject = subject
            if attendees is not None:
                meeting.attendees = attendees  # the full list replaces the old one
        return JSONResponse(meeting_json(meeting, tenant))

    @app.delete("/v1.0/users/{user_ref}/onlineMeetings/{meeting_id}", response_model=None)
    async def delete_meeting(user_ref: str, meeting_id: str, request: Request) -> Response:
        if (refused := await guard(request, state)) is not None:
            return refused
        user = _organizer(state, user_ref)
        if isinstance(user, JSONResponse):
            return user
        meeting = _owned_meeting(state, user, meeting_id)
        if isinstance(meeting, JSONResponse):
            return meeting
        state.delete_meeting(meeting.id)
        return Response(status_code=204)

    _add_attendance_routes(app, state)


def _add_attendance_routes(app: FastAPI, state: TeamsEmulatorState) -> None:
    async def owned(
        request: Request, user_ref: str, meeting_id: str
    ) -> tuple[EntraUser, OnlineMeeting] | JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        user = _organizer(state, user_ref)
        if isinstance(user, JSONResponse):
            return user
        meeting = _owned_meeting(state, user, meeting_id)
        if isinstance(meeting, JSONResponse):
            return meeting
        return user, meeting

    @app.get("/v1.0/users/{user_ref}/onlineMeetings/{meeting_id}/attendanceReports")
    async def list_reports(user_ref: str, meeting_id: str, request: Request) -> JSONResponse:
        found = await owned(request, user_ref, meeting_id)
        if isinstance(found, JSONResponse):
            return found
        with state.lock:
            reports = list(state.attendance_reports.get(meeting_id, []))
        return JSONResponse({"value": [attendance_report_json(r) for r in reports]})

    @app.get("/v1.0/users/{user_ref}/onlineMeetings/{meeting_id}/attendanceReports/{report_id}")
    async def get_report(user_ref: str, meeting_id: str, report_id: str, request: Request) -> JSONResponse:
        found = await owned(request, user_ref, meeting_id)
        if isinstance(found, JSONResponse):
            return found
        report = next((r for r in state.attendance_reports.get(meeting_id, []) if r.id == report_id), None)
        if report is None:
            return _not_found(f"Attendance report '{report_id}'")
        body = attendance_report_json(report)
        if request.query_params.get("$expand") == "attendanceRecords":
            body["attendanceRecords"] = [attendance_record_json(r) for r in report.records]
        return JSONResponse(body)

    @app.get(
        "/v1.0/users/{user_ref}/onlineMeetings/{meeting_id}/attendanceReports/{report_id}/attendanceRecords"
    )
    async def list_records(user_ref: str, meeting_id: str, report_id: str, request: Request) -> JSONResponse:
        found = await owned(request, user_ref, meeting_id)
        if isinstance(found, JSONResponse):
            return found
        report = next((r for r in state.attendance_reports.get(meeting_id, []) if r.id == report_id), None)
        if report is None:
            return _not_found(f"Attendance report '{report_id}'")
        page = paged(
            state, request, f"records:{report.id}", [attendance_record_json(r) for r in report.records]
        )
        return page
