"""The Zoom emulator's HTTP surface: S2S OAuth token endpoint, meetings CRUD and reports.

`create_zoom_emulator(config)` returns the FastAPI app; its `ZoomEmulatorState` is at
`app.state.zoom` (also returned by `emulator_state(app)`) for tests, the player and the demo.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from integrations.sandbox.zoom.config import ZoomEmulatorConfig
from integrations.sandbox.zoom.state import (
    EmulatedMeeting,
    MeetingInstance,
    Registrant,
    TokenStatus,
    ZoomEmulatorState,
)
from integrations.sandbox.zoom.validation import MeetingFields, ValidationFailed, parse_meeting_fields
from integrations.sandbox.zoom.wire import (
    encode_uuid_for_path,
    meeting_json,
    needs_double_encoding,
    report_detail_json,
    report_row_json,
    zoom_time,
)

_REPORT_PREFIX = b"/v2/report/meetings/"
_DEFAULT_PAGE_SIZE = 30
_MAX_PAGE_SIZE = 300


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _meeting_not_found(ref: str) -> JSONResponse:
    return _error(404, 3001, f"Meeting does not exist: {ref}.")


def emulator_state(app: FastAPI) -> ZoomEmulatorState:
    state = app.state.zoom
    assert isinstance(state, ZoomEmulatorState)
    return state


def create_zoom_emulator(config: ZoomEmulatorConfig | None = None) -> FastAPI:
    state = ZoomEmulatorState(config or ZoomEmulatorConfig())
    app = FastAPI(title="Zoom sandbox emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.zoom = state
    app.add_middleware(LateAnswers, state=state)
    _add_oauth_routes(app, state)
    _add_meeting_routes(app, state)
    _add_report_routes(app, state)
    _add_registrant_routes(app, state)
    return app


class LateAnswers:
    """Hold back the answer of some /v2 calls after they were carried out (`faults.late_answer_rate`)."""

    def __init__(self, app: Any, state: ZoomEmulatorState) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self._app(scope, receive, send)
            return
        delay = self._state.faults.late_answer_delay()
        if not delay:
            await self._app(scope, receive, send)
            return

        async def send_late(message: Any) -> None:
            if message["type"] == "http.response.start":
                await asyncio.sleep(delay)
            await send(message)

        await self._app(scope, receive, send_late)


# --- OAuth ---------------------------------------------------------------------------------------


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


def _add_oauth_routes(app: FastAPI, state: ZoomEmulatorState) -> None:
    config = state.config

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        credentials = _basic_credentials(request.headers.get("authorization"))
        # Read per request: a test (or the sandbox admin) can rotate the secret on a running account.
        expected = (state.config.client_id, state.config.client_secret)
        if credentials is None or not all(
            secrets.compare_digest(a.encode(), b.encode()) for a, b in zip(credentials, expected, strict=True)
        ):
            return JSONResponse(
                {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}, status_code=401
            )
        # Zoom takes grant_type/account_id from the query string or a form body.
        params = dict(request.query_params)
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if params.get("grant_type") != "account_credentials":
            return JSONResponse(
                {"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, status_code=400
            )
        if params.get("account_id") != config.account_id:
            return JSONResponse({"reason": "Invalid account_id", "error": "invalid_request"}, status_code=400)
        return JSONResponse(
            {
                "access_token": state.issue_token(),
                "token_type": "bearer",
                "expires_in": config.token_expires_in,
                "scope": config.scope,
                "api_url": config.api_url or str(request.base_url).rstrip("/"),
            }
        )


# --- the guard every /v2 call passes ----------------------------------------------------------------


async def _guard(request: Request, state: ZoomEmulatorState) -> JSONResponse | None:
    """Latency, bearer token, per-second limit and injected faults, in Zoom's order of checks."""
    refused = await _refusal(request, state)
    if refused is not None:
        with state.lock:
            state.refused[refused.status_code] += 1
    return refused


async def _refusal(request: Request, state: ZoomEmulatorState) -> JSONResponse | None:
    with state.lock:
        state.api_requests.append((request.method, request.scope.get("raw_path", b"").decode("latin-1")))
    if state.faults.latency_seconds:
        await asyncio.sleep(state.faults.latency_seconds)
    if state.faults.expire_tokens_now():
        state.expire_all_tokens()
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    status = state.token_status(token.strip()) if scheme.lower() == "bearer" else TokenStatus.INVALID
    if status is TokenStatus.EXPIRED:
        return _error(401, 124, "Access token is expired.")
    if status is TokenStatus.INVALID:
        return _error(401, 124, "Invalid access token.")
    if not state.count_this_second():
        return _error(
            429,
            429,
            "You have reached the maximum per-second rate limit for this API. Try again later.",
            {"X-RateLimit-Type": "QPS", "X-RateLimit-Category": "Medium"},
        )
    fault = state.faults.next_fault(request.url.path)
    if fault is None:
        return None
    if fault.status == 429:
        headers = {"X-RateLimit-Type": "QPS"}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        return _error(429, 429, "Too many requests. Please try again later.", headers)
    return _error(fault.status, fault.status, "The service is temporarily unavailable.")


def _daily_limit_response(state: ZoomEmulatorState) -> JSONResponse:
    limit = state.config.daily_create_update_limit
    tomorrow = datetime.combine(state.now().date() + timedelta(days=1), time(0), tzinfo=state.now().tzinfo)
    return _error(
        429,
        429,
        f"You have exceeded the daily rate limit ({limit}) of Meeting Create/Update API requests "
        "permitted for this particular user. You may resume these requests at GMT 00:00:00.",
        {
            "Retry-After": tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "X-RateLimit-Category": "Medium",
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
        },
    )


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if not raw:
        return {}
    try:
        parsed: object = json.loads(raw)
    except ValueError:
        return None
    return parsed


# --- meetings ------------------------------------------------------------------------------------


def _start_url(state: ZoomEmulatorState, meeting: EmulatedMeeting) -> str:
    # A fresh zak on every read, like Zoom's 2-hour start_url.
    return f"{state.config.join_url_base}/s/{meeting.id}?zak={secrets.token_urlsafe(16)}"


def _apply(meeting: EmulatedMeeting, fields: MeetingFields) -> None:
    if fields.topic is not None:
        meeting.topic = fields.topic
    if fields.type is not None:
        meeting.type = fields.type
    if fields.start_time is not None:
        meeting.start_time = fields.start_time
    if fields.duration is not None:
        meeting.duration = fields.duration
    if fields.timezone is not None:
        meeting.timezone = fields.timezone
    if fields.agenda is not None:
        meeting.agenda = fields.agenda
    if fields.password is not None:
        meeting.password = fields.password
    if fields.settings is not None:
        meeting.settings = {**meeting.settings, **fields.settings}


def _listed_meeting(meeting: EmulatedMeeting) -> dict[str, Any]:
    """A meeting as "List meetings" shows it: no start_url, password or settings."""
    return {
        "uuid": meeting.uuid,
        "id": meeting.id,
        "host_id": meeting.host.id,
        "topic": meeting.topic,
        "type": meeting.type,
        "start_time": zoom_time(meeting.start_time) if meeting.start_time else None,
        "duration": meeting.duration,
        "timezone": meeting.timezone,
        "agenda": meeting.agenda,
        "created_at": zoom_time(meeting.created_at),
        "join_url": meeting.join_url,
    }


def _parse_meeting_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 19 else None


def _add_meeting_routes(app: FastAPI, state: ZoomEmulatorState) -> None:
    config = state.config

    @app.post("/v2/users/{user_ref}/meetings")
    async def create_meeting(user_ref: str, request: Request) -> JSONResponse:
        if (refused := await _guard(request, state)) is not None:
            return refused
        user = config.user_by_ref(user_ref)
        if user is None:
            return _error(404, 1001, f"User does not exist: {user_ref}.")
        body = await _json_body(request)
        try:
            fields = parse_meeting_fields(body, default_timezone="UTC", creating=True)
        except ValidationFailed as failed:
            return JSONResponse(failed.body(), status_code=400)
        if not state.count_create_update(user):
            return _daily_limit_response(state)
        meeting = state.add_meeting(
            user,
            topic=fields.topic if fields.topic is not None else "Zoom Meeting",
            type=fields.type or 2,
            start_time=fields.start_time or (state.now() if fields.type == 1 else None),
            duration=fields.duration or 60,
            timezone=fields.timezone or "UTC",
            agenda=fields.agenda or "",
            password=fields.password,
            settings=fields.settings,
        )
        return JSONResponse(meeting_json(meeting, _start_url(state, meeting)), status_code=201)

    @app.get("/v2/users/{user_ref}/meetings")
    async def list_meetings(user_ref: str, request: Request) -> JSONResponse:
        """Zoom's "List meetings" of a host: scheduled (default) or upcoming, oldest created first."""
        if (refused := await _guard(request, state)) is not None:
            return refused
        user = config.user_by_ref(user_ref)
        if user is None:
            return _error(404, 1001, f"User does not exist: {user_ref}.")
        page_size = _page_size(request.query_params.get("page_size"))
        if page_size is None:
            return _error(400, 300, "Invalid field: page_size.")
        listing = request.query_params.get("type", "scheduled")
        if listing not in ("scheduled", "upcoming", "live"):
            return _error(400, 300, f"Invalid field: type: {listing}.")
        offset = 0
        token = request.query_params.get("next_page_token")
        cursor_key = f"list:{user.id}:{listing}"
        if token:
            cursor = state.redeem_page_token(token)
            if cursor is None or cursor.instance_uuid != cursor_key:
                return _error(400, 300, "The next page token is invalid or expired.")
            offset = cursor.offset
        now = state.now()
        with state.lock:
            found = [
                m
                for m in state.meetings.values()
                if m.host.id == user.id
                and (
                    (listing == "scheduled" and m.type == 2)
                    or (listing == "live" and m.in_progress)
                    or (listing == "upcoming" and m.start_time is not None and m.start_time >= now)
                )
            ]
        found.sort(key=lambda m: (m.created_at, m.id))
        page = found[offset : offset + page_size]
        next_offset = offset + page_size
        next_token = state.issue_page_token(cursor_key, next_offset) if next_offset < len(found) else ""
        return JSONResponse(
            {
                "page_size": page_size,
                "total_records": len(found),
                "next_page_token": next_token,
                "meetings": [_listed_meeting(m) for m in page],
            }
        )

    @app.get("/v2/meetings/{meeting_ref}")
    async def get_meeting(meeting_ref: str, request: Request) -> JSONResponse:
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting_id = _parse_meeting_id(meeting_ref)
        meeting = state.meeting(meeting_id) if meeting_id is not None else None
        if meeting is None:
            return _meeting_not_found(meeting_ref)
        return JSONResponse(meeting_json(meeting, _start_url(state, meeting)))

    @app.patch("/v2/meetings/{meeting_ref}", response_model=None)
    async def update_meeting(meeting_ref: str, request: Request) -> Response:
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting_id = _parse_meeting_id(meeting_ref)
        meeting = state.meeting(meeting_id) if meeting_id is not None else None
        if meeting is None:
            return _meeting_not_found(meeting_ref)
        body = await _json_body(request)
        try:
            fields = parse_meeting_fields(body, default_timezone=meeting.timezone, creating=False)
        except ValidationFailed as failed:
            return JSONResponse(failed.body(), status_code=400)
        if not state.count_create_update(meeting.host):
            return _daily_limit_response(state)
        with state.lock:
            _apply(meeting, fields)
        return Response(status_code=204)

    @app.delete("/v2/meetings/{meeting_ref}", response_model=None)
    async def delete_meeting(meeting_ref: str, request: Request) -> Response:
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting_id = _parse_meeting_id(meeting_ref)
        meeting = state.meeting(meeting_id) if meeting_id is not None else None
        if meeting is None or meeting_id is None:
            return _meeting_not_found(meeting_ref)
        if meeting.in_progress:
            return _error(400, 3002, f"Meeting {meeting_id} is in progress; it cannot be deleted.")
        if meeting.type == 1 and meeting.instances:
            return _error(400, 3007, f"Instant meeting {meeting_id} has ended; it cannot be deleted.")
        with state.lock:
            del state.meetings[meeting_id]
            state.deleted_meeting_ids.add(meeting_id)
        return Response(status_code=204)


# --- reports -------------------------------------------------------------------------------------


def _resolve_instance(
    state: ZoomEmulatorState, raw_segment: str
) -> tuple[EmulatedMeeting, MeetingInstance] | JSONResponse:
    """Find the instance a report path names: a numeric id (latest instance) or an encoded uuid.

    The path arrives raw (undecoded) so the encoding rule can be enforced: a uuid that needs
    double encoding is only found when double-encoded, any other uuid when encoded once.
    """
    once = unquote(raw_segment)
    instance: MeetingInstance | None = None
    if once.isdigit():
        meeting = state.meeting(int(once))
        instance = meeting.instances[-1] if meeting and meeting.instances else None
    else:
        found = state.instance_by_uuid(once)
        if found is not None and not needs_double_encoding(once):
            instance = found
        twice = unquote(once)
        found = state.instance_by_uuid(twice)
        if found is not None and needs_double_encoding(twice) and raw_segment == encode_uuid_for_path(twice):
            instance = found
    if instance is None:
        return _meeting_not_found(once)
    meeting = state.meeting(instance.meeting_id)
    if meeting is None:
        return _meeting_not_found(once)
    if instance.ended_at is None:
        return _error(404, 3001, "This meeting has not ended yet; its report is not available.")
    if not state.has_report(instance):
        # Zoom keeps no report of a meeting with fewer than two participants, ever.
        return _meeting_not_found(once)
    return meeting, instance


def _page_size(raw: str | None) -> int | None:
    if raw is None:
        return _DEFAULT_PAGE_SIZE
    if not raw.isdigit() or int(raw) < 1:
        return None
    return min(int(raw), _MAX_PAGE_SIZE)


def _add_report_routes(app: FastAPI, state: ZoomEmulatorState) -> None:
    @app.get("/v2/past_meetings/{meeting_ref}/instances")
    async def past_instances(meeting_ref: str, request: Request) -> JSONResponse:
        """Zoom's "List past meeting instances": every ended instance of a meeting id."""
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting_id = _parse_meeting_id(meeting_ref)
        meeting = state.meeting(meeting_id) if meeting_id is not None else None
        if meeting is None:
            return _meeting_not_found(meeting_ref)
        with state.lock:
            ended = [i for i in meeting.instances if i.ended_at is not None]
        return JSONResponse(
            {"meetings": [{"uuid": i.uuid, "start_time": zoom_time(i.started_at)} for i in ended]}
        )

    @app.get("/v2/report/meetings/{rest:path}")
    async def meeting_report(rest: str, request: Request) -> JSONResponse:
        if (refused := await _guard(request, state)) is not None:
            return refused
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        segments = raw_path.split(b"?", 1)[0][len(_REPORT_PREFIX) :].decode("latin-1").split("/")
        if len(segments) == 2 and segments[1] == "participants":
            resolved = _resolve_instance(state, segments[0])
            if isinstance(resolved, JSONResponse):
                return resolved
            return _participants_page(state, request, *resolved)
        if len(segments) == 1:
            resolved = _resolve_instance(state, segments[0])
            if isinstance(resolved, JSONResponse):
                return resolved
            return JSONResponse(report_detail_json(*resolved))
        # A literal '/' inside the id: the uuid was not encoded (enough).
        return _meeting_not_found(unquote("/".join(segments)))


def _participants_page(
    state: ZoomEmulatorState, request: Request, meeting: EmulatedMeeting, instance: MeetingInstance
) -> JSONResponse:
    page_size = _page_size(request.query_params.get("page_size"))
    if page_size is None:
        return _error(400, 300, "Invalid field: page_size.")
    offset = 0
    token = request.query_params.get("next_page_token")
    if token:
        cursor = state.redeem_page_token(token)
        if cursor is None or cursor.instance_uuid != instance.uuid:
            return _error(400, 300, "The next page token is invalid or expired.")
        offset = cursor.offset
    with state.lock:
        sessions = sorted(
            (s for s in instance.sessions if state.realism.waiting_room_rows or not s.in_waiting_room),
            key=lambda s: (s.joined_at, s.participant_user_id),
        )
    end = instance.ended_at or instance.started_at
    rows: list[dict[str, Any]] = [
        report_row_json(s, end, state.visible(meeting, s)) for s in sessions[offset : offset + page_size]
    ]
    next_offset = offset + page_size
    next_token = state.issue_page_token(instance.uuid, next_offset) if next_offset < len(sessions) else ""
    return JSONResponse(
        {
            "page_count": -(-len(sessions) // page_size),
            "page_size": page_size,
            "total_records": len(sessions),
            "next_page_token": next_token,
            "participants": rows,
        }
    )


# --- registrants ---------------------------------------------------------------------------------


def _registrant_json(registrant: Registrant) -> dict[str, Any]:
    return {
        "id": registrant.id,
        "email": registrant.email,
        "first_name": registrant.first_name,
        "last_name": registrant.last_name,
        "status": registrant.status,
        "join_url": registrant.join_url,
    }


def _add_registrant_routes(app: FastAPI, state: ZoomEmulatorState) -> None:
    def registrable(meeting_ref: str) -> EmulatedMeeting | JSONResponse:
        meeting_id = _parse_meeting_id(meeting_ref)
        meeting = state.meeting(meeting_id) if meeting_id is not None else None
        if meeting is None:
            return _meeting_not_found(meeting_ref)
        if not meeting.registration_enabled:
            return _error(400, 3043, "Registration has not been enabled for this meeting.")
        return meeting

    @app.post("/v2/meetings/{meeting_ref}/registrants")
    async def add_registrant(meeting_ref: str, request: Request) -> JSONResponse:
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting = registrable(meeting_ref)
        if isinstance(meeting, JSONResponse):
            return meeting
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _error(400, 300, "Request Body should be a valid JSON object.")
        email, first_name = body.get("email"), body.get("first_name")
        if not isinstance(email, str) or "@" not in email or len(email) > 128:
            return JSONResponse(ValidationFailed("email", "Invalid field.").body(), status_code=400)
        if not isinstance(first_name, str) or not first_name.strip() or len(first_name) > 64:
            return JSONResponse(ValidationFailed("first_name", "Invalid field.").body(), status_code=400)
        last_name = body.get("last_name") if isinstance(body.get("last_name"), str) else ""
        registrant = state.register(meeting, email, first_name, str(last_name))
        return JSONResponse(
            {
                "id": meeting.id,
                "registrant_id": registrant.id,
                "join_url": registrant.join_url,
                "topic": meeting.topic,
                "start_time": zoom_time(meeting.start_time) if meeting.start_time else None,
            },
            status_code=201,
        )

    @app.get("/v2/meetings/{meeting_ref}/registrants")
    async def list_registrants(meeting_ref: str, request: Request) -> JSONResponse:
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting = registrable(meeting_ref)
        if isinstance(meeting, JSONResponse):
            return meeting
        status = request.query_params.get("status") or "approved"
        if status not in ("approved", "pending", "denied"):
            return _error(400, 300, "Invalid field: status.")
        with state.lock:
            listed = [_registrant_json(r) for r in meeting.registrants.values() if r.status == status]
        # One page: a sales meeting has far fewer registrants than a page holds.
        return JSONResponse(
            {"page_size": 300, "total_records": len(listed), "next_page_token": "", "registrants": listed}
        )

    @app.put("/v2/meetings/{meeting_ref}/registrants/status", response_model=None)
    async def update_registrant_status(meeting_ref: str, request: Request) -> Response:
        if (refused := await _guard(request, state)) is not None:
            return refused
        meeting = registrable(meeting_ref)
        if isinstance(meeting, JSONResponse):
            return meeting
        body = await _json_body(request)
        action = body.get("action") if isinstance(body, dict) else None
        listed = body.get("registrants") if isinstance(body, dict) else None
        if action not in ("approve", "cancel", "deny") or not isinstance(listed, list):
            return _error(400, 300, "Invalid field: action or registrants.")
        with state.lock:
            for item in listed:
                if not isinstance(item, dict):
                    continue
                for registrant in meeting.registrants.values():
                    if (
                        registrant.id == item.get("id")
                        or registrant.email.lower() == str(item.get("email", "")).lower()
                    ):
                        registrant.status = {"approve": "approved", "cancel": "cancelled", "deny": "denied"}[
                            action
                        ]
        return Response(status_code=204)
