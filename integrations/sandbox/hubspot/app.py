"""The HubSpot emulator's HTTP surface: CRM Meetings v3 (create, read, update, archive, search) with
inline associations, Bearer auth, rate limits and injected faults.

`create_hubspot_emulator(state)` returns the FastAPI app; the state is at `app.state.hubspot`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from integrations.sandbox.hubspot.state import (
    ASSOCIATION_TYPES,
    OUTCOMES,
    STANDARD_PROPERTIES,
    EmulatedMeeting,
    HubSpotEmulatorState,
)

MEETINGS = "/crm/v3/objects/meetings"


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _error(
    state: HubSpotEmulatorState, status: int, category: str, message: str, **extra: Any
) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": state.correlation_id(),
        "category": category,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status)


def emulator_state(app: FastAPI) -> HubSpotEmulatorState:
    state = app.state.hubspot
    assert isinstance(state, HubSpotEmulatorState)
    return state


def create_hubspot_emulator(state: HubSpotEmulatorState) -> FastAPI:
    app = FastAPI(title="HubSpot emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.hubspot = state

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        response = _gate(state, request)
        if response is None:
            response = await call_next(request)
        with state.lock:
            state.calls.append((request.method, request.url.path, response.status_code))
            ten, day = state.remaining()
        response.headers["X-HubSpot-RateLimit-Max"] = str(state.ten_second_limit)
        response.headers["X-HubSpot-RateLimit-Remaining"] = str(ten)
        response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
        response.headers["X-HubSpot-RateLimit-Daily"] = str(state.daily_limit)
        response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(day)
        return response

    @app.post(MEETINGS)
    async def create(request: Request) -> Response:
        body = await _json(state, request)
        try:
            properties = _properties(state, body.get("properties"), creating=True)
            associations = _associations(state, body.get("associations", []))
        except _Refused as refused:
            return refused.response
        with state.lock:
            now = state.clock()
            meeting = EmulatedMeeting(state.new_id(), properties, associations, now, now)
            state.meetings[meeting.id] = meeting
        return JSONResponse(meeting.json(), status_code=201)

    @app.post(f"{MEETINGS}/search")
    async def search(request: Request) -> Response:
        body = await _json(state, request)
        groups = body.get("filterGroups") or []
        with state.lock:
            found = [m for m in state.meetings.values() if not groups or any(_matches(m, g) for g in groups)]
        limit = int(body.get("limit") or 10)
        return JSONResponse({"total": len(found), "results": [m.json() for m in found[:limit]]})

    @app.get(MEETINGS + "/{meeting_id}")
    async def read(meeting_id: str, associations: str | None = None) -> Response:
        with state.lock:
            meeting = state.meetings.get(meeting_id)
        if meeting is None:
            return _error(state, 404, "OBJECT_NOT_FOUND", f"resource not found: meeting {meeting_id}")
        out = meeting.json()
        if associations:
            out["associations"] = {
                kind: {
                    "results": [
                        {"id": i, "type": f"meeting_to_{kind[:-1]}"}
                        for i in meeting.associations.get(kind, [])
                    ]
                }
                for kind in associations.split(",")
            }
        return JSONResponse(out)

    @app.patch(MEETINGS + "/{meeting_id}")
    async def patch(meeting_id: str, request: Request) -> Response:
        body = await _json(state, request)
        try:
            properties = _properties(state, body.get("properties"), creating=False)
        except _Refused as refused:
            return refused.response
        with state.lock:
            meeting = state.meetings.get(meeting_id)
            if meeting is None:
                return _error(state, 404, "OBJECT_NOT_FOUND", f"resource not found: meeting {meeting_id}")
            meeting.properties.update(properties)
            meeting.updated_at = state.clock()
            return JSONResponse(meeting.json())

    @app.delete(MEETINGS + "/{meeting_id}")
    async def archive(meeting_id: str) -> Response:
        with state.lock:
            state.meetings.pop(meeting_id, None)
        return Response(status_code=204)

    return app


def _gate(state: HubSpotEmulatorState, request: Request) -> JSONResponse | None:
    """Auth, injected faults and rate limits, before any work is done."""
    if request.headers.get("authorization") != f"Bearer {state.access_token}":
        return _error(
            state,
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        )
    with state.lock:
        fault = state.fault_now()
        policy = "TEN_SECONDLY_ROLLING" if fault == 429 else (None if fault else state.take_rate())
    if fault is not None and fault != 429:
        return _error(state, fault, "INTERNAL_ERROR", "internal error")
    if policy is not None:
        limit = "daily" if policy == "DAILY" else "ten_secondly_rolling"
        return _error(
            state,
            429,
            "RATE_LIMITS",
            f"You have reached your {limit} limit.",
            errorType="RATE_LIMIT",
            policyName=policy,
        )
    return None


async def _json(state: HubSpotEmulatorState, request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _properties(state: HubSpotEmulatorState, raw: object, *, creating: bool) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise _Refused(
            _error(state, 400, "VALIDATION_ERROR", "Invalid input JSON: properties must be an object")
        )
    errors = []
    values: dict[str, str] = {}
    for name, value in raw.items():
        if name not in STANDARD_PROPERTIES and name not in state.custom_properties:
            errors.append({"message": f'Property "{name}" does not exist', "code": "PROPERTY_DOESNT_EXIST"})
            continue
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            errors.append({"message": f'Property "{name}" must be a string', "code": "INVALID_TYPE"})
            continue
        values[name] = str(value)
    outcome = values.get("hs_meeting_outcome")
    if outcome is not None and outcome not in OUTCOMES:
        errors.append({"message": f"{outcome} was not one of the allowed options", "code": "INVALID_OPTION"})
    if creating and "hs_timestamp" not in values:
        errors.append({"message": "hs_timestamp is required", "code": "REQUIRED_PROPERTY"})
    if errors:
        raise _Refused(
            _error(state, 400, "VALIDATION_ERROR", "Property values were not valid", errors=errors)
        )
    return values


def _associations(state: HubSpotEmulatorState, raw: object) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not isinstance(raw, list):
        raise _Refused(_error(state, 400, "VALIDATION_ERROR", "associations must be a list"))
    for item in raw:
        target = item.get("to", {}).get("id") if isinstance(item, dict) else None
        types = item.get("types") if isinstance(item, dict) else None
        if not isinstance(target, str) or not target or not isinstance(types, list) or not types:
            raise _Refused(_error(state, 400, "VALIDATION_ERROR", "an association needs to.id and types"))
        for kind in types:
            type_id = kind.get("associationTypeId") if isinstance(kind, dict) else None
            category = kind.get("associationCategory") if isinstance(kind, dict) else None
            if category != "HUBSPOT_DEFINED" or type_id not in ASSOCIATION_TYPES:
                raise _Refused(
                    _error(state, 400, "VALIDATION_ERROR", f"invalid association type {category}/{type_id}")
                )
            found.setdefault(ASSOCIATION_TYPES[type_id], []).append(target)
    return found


def _matches(meeting: EmulatedMeeting, group: object) -> bool:
    filters = group.get("filters", []) if isinstance(group, dict) else []
    for f in filters:
        if not isinstance(f, dict) or f.get("operator") != "EQ":
            return False
        if meeting.properties.get(str(f.get("propertyName"))) != str(f.get("value")):
            return False
    return True
