"""The Google emulator's HTTP surface, on one loopback origin:

    POST /token                                   OAuth 2.0 JWT-bearer grant (service account + DWD)
    /calendar/v3/calendars/{cal}/events[/{id}]     Calendar events with Meet conference creation
    GET  /v2/spaces/{id|code}, /v2/conferenceRecords[...]   Meet REST API v2 (paginated lists)
    GET  /admin/directory/v1/users/{userKey}       Admin SDK Directory users.get
    /v1/subscriptions[...], GET /v1/operations/{id}          Workspace Events API
    GET  /oauth2/v1/certs                          the certificates of the key signing push OIDC tokens

`create_meet_emulator(config)` returns the FastAPI app; its `MeetEmulatorState` is at
`app.state.meet` (also `emulator_state(app)`) for tests, the player and the demo.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

from integrations.sandbox.meet.config import MeetEmulatorConfig
from integrations.sandbox.meet.faults import FaultKind
from integrations.sandbox.meet.keys import GOOGLE_TOKEN_AUDIENCE
from integrations.sandbox.meet.state import (
    CalendarEvent,
    ConferenceRecord,
    ConferenceRequest,
    IssuedToken,
    MeetEmulatorState,
    Subscription,
    TokenStatus,
)
from integrations.sandbox.meet.wire import (
    EMPTY_TYPE,
    SUBSCRIPTION_TYPE,
    calendar_error,
    event_json,
    participant_json,
    record_json,
    rpc_error,
    session_json,
    space_json,
    subscription_json,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CALENDAR_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events"}
)
MEET_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/meetings.space.created",
        "https://www.googleapis.com/auth/meetings.space.readonly",
    }
)
DIRECTORY_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/admin.directory.user.readonly",
        "https://www.googleapis.com/auth/admin.directory.user",
    }
)
MEET_EVENT_TYPES = frozenset(
    {
        "google.workspace.meet.conference.v2.started",
        "google.workspace.meet.conference.v2.ended",
        "google.workspace.meet.participant.v2.joined",
        "google.workspace.meet.participant.v2.left",
        "google.workspace.meet.recording.v2.fileGenerated",
        "google.workspace.meet.transcript.v2.fileGenerated",
    }
)
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_TTL = re.compile(r"^(\d+)(?:\.\d+)?s$")
_RECORD_FILTER = re.compile(r'^\s*space\.(meeting_code|name)\s*=\s*"([^"]+)"\s*$')
_TARGET_FILTER = re.compile(r'target_resource\s*=\s*"([^"]+)"')
_MAX_TOKEN_LIFETIME_SECONDS = 3600
_BEARER_CHALLENGE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'


def emulator_state(app: FastAPI) -> MeetEmulatorState:
    state = app.state.meet
    assert isinstance(state, MeetEmulatorState)
    return state


def create_meet_emulator(config: MeetEmulatorConfig | None = None) -> FastAPI:
    state = MeetEmulatorState(config or MeetEmulatorConfig())
    app = FastAPI(title="Google sandbox emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.meet = state
    _add_token_route(app, state)
    _add_certs_route(app, state)
    _add_calendar_routes(app, state)
    _add_meet_routes(app, state)
    _add_directory_routes(app, state)
    _add_events_routes(app, state)
    return app


# --- OAuth: the JWT-bearer grant -----------------------------------------------------------------


def _grant_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _add_token_route(app: FastAPI, state: MeetEmulatorState) -> None:
    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        with state.lock:
            state.token_requests += 1
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        refusal = _check_assertion(state, form)
        if isinstance(refusal, JSONResponse):
            with state.lock:
                state.refused_token_requests += 1
            return refusal
        subject, scopes = refusal
        return JSONResponse(
            {
                "access_token": state.issue_token(subject, scopes),
                "expires_in": state.config.token_expires_in,
                "token_type": "Bearer",
            }
        )


def _check_assertion(
    state: MeetEmulatorState, form: dict[str, str]
) -> JSONResponse | tuple[str | None, frozenset[str]]:
    """The assertion's signature (the account's key, by `kid`), audience, lifetime, issuer and subject."""
    if form.get("grant_type") != JWT_BEARER:
        return _grant_error("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
    assertion = form.get("assertion", "")
    account = state.config.service_account
    try:
        header = google_jwt.decode_header(assertion)  # type: ignore[no-untyped-call]
    except (ValueError, google_exceptions.GoogleAuthError):
        return _grant_error(
            "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        )
    if header.get("alg") != "RS256" or header.get("kid") != account.key.key_id:
        return _grant_error("invalid_grant", "Invalid JWT Signature.")
    try:
        claims = account.key.verify(assertion, audience=GOOGLE_TOKEN_AUDIENCE)
    except (ValueError, google_exceptions.GoogleAuthError) as exc:
        text = str(exc)
        if "audience" in text.lower():
            return _grant_error("invalid_grant", "Invalid JWT: Failed audience check.")
        if "expired" in text.lower() or "too early" in text.lower():
            return _grant_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.",
            )
        return _grant_error("invalid_grant", "Invalid JWT Signature.")
    if claims.get("iss") != account.email:
        return _grant_error("invalid_grant", "Invalid JWT Signature.")
    issued_at, expires = claims.get("iat"), claims.get("exp")
    if (
        not isinstance(issued_at, int)
        or not isinstance(expires, int)
        or expires - issued_at > _MAX_TOKEN_LIFETIME_SECONDS
    ):
        return _grant_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        )
    scopes = frozenset(str(claims.get("scope") or "").split())
    if not scopes:
        return _grant_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    subject = claims.get("sub")
    if subject is not None:
        user = state.config.user_by_email(str(subject))
        if user is None:
            return _grant_error("invalid_grant", "Invalid email or User ID")
        subject = user.email
    return subject, scopes


def _add_certs_route(app: FastAPI, state: MeetEmulatorState) -> None:
    @app.get("/oauth2/v1/certs")
    async def certs() -> JSONResponse:
        with state.lock:
            state.certs_requests += 1
        key = state.config.push_signing_key
        return JSONResponse(
            {key.key_id: key.certificate_pem},
            headers={"Cache-Control": "public, max-age=19800, must-revalidate"},
        )


# --- the guard every API call passes -------------------------------------------------------------


async def _guard(
    request: Request, state: MeetEmulatorState, scopes: frozenset[str], *, calendar_style: bool
) -> JSONResponse | IssuedToken:
    """Latency, bearer token, scope and injected faults; answered in the called API's error shape."""
    with state.lock:
        state.api_requests.append((request.method, request.url.path))
    if state.faults.latency_seconds:
        await asyncio.sleep(state.faults.latency_seconds)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    status, issued = state.token(value.strip()) if scheme.lower() == "bearer" else (TokenStatus.INVALID, None)
    if issued is None or status is not TokenStatus.VALID:
        message = "Request had invalid authentication credentials. Expected OAuth 2 access token."
        if calendar_style:
            return calendar_error(
                401, "authError", "Invalid Credentials", headers={"WWW-Authenticate": _BEARER_CHALLENGE}
            )
        return rpc_error(401, "UNAUTHENTICATED", message, {"WWW-Authenticate": _BEARER_CHALLENGE})
    if not issued.scopes & scopes:
        if calendar_style:
            return calendar_error(403, "insufficientPermissions", "Insufficient Permission")
        return rpc_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
    fault = state.faults.next_fault()
    if fault is None:
        return issued
    if fault.kind is FaultKind.RATE_LIMIT:
        if calendar_style:
            return calendar_error(403, fault.reason, "Rate Limit Exceeded", domain="usageLimits")
        return rpc_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests'.")
    if calendar_style:
        return calendar_error(fault.status, "backendError", "Backend Error")
    return rpc_error(fault.status, "UNAVAILABLE", "The service is currently unavailable.")


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw:
        return {}
    try:
        parsed: object = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _page_size(raw: str | None, default: int, maximum: int) -> int | None:
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit():
        return None
    size = int(raw)
    if size < 0:
        return None
    return default if size == 0 else min(size, maximum)


def _page(
    state: MeetEmulatorState,
    request: Request,
    listing: str,
    items: list[dict[str, Any]],
    field: str,
    *,
    default: int,
    maximum: int,
) -> JSONResponse:
    size = _page_size(request.query_params.get("pageSize"), default, maximum)
    if size is None:
        return rpc_error(400, "INVALID_ARGUMENT", "Invalid page size.")
    offset = 0
    token = request.query_params.get("pageToken")
    if token:
        found = state.redeem_page_token(token, listing)
        if found is None:
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid page token.")
        offset = found
    document: dict[str, Any] = {}
    chunk = items[offset : offset + size]
    if chunk:
        document[field] = chunk
    if offset + size < len(items):
        document["nextPageToken"] = state.issue_page_token(listing, offset + size)
    return JSONResponse(document)


# --- Calendar ------------------------------------------------------------------------------------


def _owned_calendar(calendar_id: str, issued: IssuedToken) -> str | None:
    """The calendar a call may use: `primary` or the impersonated user's own e-mail."""
    if issued.subject is None:
        return None
    if calendar_id == "primary" or calendar_id.lower() == issued.subject.lower():
        return issued.subject.lower()
    return None


def _validate_event_fields(body: dict[str, Any], *, creating: bool) -> str | None:
    for key in ("start", "end"):
        if key in body or creating:
            moment = body.get(key)
            if not isinstance(moment, dict) or not (moment.get("dateTime") or moment.get("date")):
                return f"Missing {key} time." if creating else f"Invalid {key} time."
    attendees = body.get("attendees", [])
    if not isinstance(attendees, list) or not all(
        isinstance(a, dict) and isinstance(a.get("email"), str) and _EMAIL.match(a["email"])
        for a in attendees
    ):
        return "Invalid attendee email."
    for key in ("summary", "description"):
        if key in body and not isinstance(body[key], str | type(None)):
            return f"Invalid value for: {key}"
    return None


def _conference_request(body: dict[str, Any]) -> tuple[str, str] | str | None:
    """The (requestId, solution type) asked for, None when none is, or why it is invalid."""
    conference = body.get("conferenceData")
    if conference is None:
        return None
    if not isinstance(conference, dict):
        return "Invalid conference data."
    create = conference.get("createRequest")
    if create is None:
        return None
    if (
        not isinstance(create, dict)
        or not isinstance(create.get("requestId"), str)
        or not create["requestId"]
    ):
        return "Invalid conference create request: requestId is required."
    key = create.get("conferenceSolutionKey")
    solution = key.get("type") if isinstance(key, dict) else None
    if solution != "hangoutsMeet":
        return "Invalid conference type value."
    return create["requestId"], solution


def _apply_event_fields(event: CalendarEvent, body: dict[str, Any]) -> None:
    if "summary" in body:
        event.summary = body.get("summary") or ""
    if "description" in body:
        event.description = body.get("description") or ""
    for key in ("start", "end"):
        if key in body:
            setattr(event, key, dict(body[key]))
    if "attendees" in body:
        event.attendees = [
            {"email": str(a["email"]).lower(), "responseStatus": a.get("responseStatus", "needsAction")}
            | ({"displayName": a["displayName"]} if a.get("displayName") else {})
            for a in body["attendees"]
        ]


def _maybe_add_conference(state: MeetEmulatorState, event: CalendarEvent, request_id: str) -> None:
    """Create the Meet conference asked for, unless this event already had this requestId (ignored)."""
    if event.conference is not None and event.conference.request_id == request_id:
        return
    if event.conference is not None and event.conference.status == "success":
        return  # the event has its conference; a new createRequest does not replace it
    owner = state.config.user_by_email(event.calendar_id)
    assert owner is not None  # only domain users get tokens
    pending = state.config.conference_pending_reads
    event.conference = ConferenceRequest(
        request_id, "pending" if pending else "success", state.add_space(owner), pending
    )
    with state.lock:
        state.conferences_created += 1


def _read_event(event: CalendarEvent) -> dict[str, Any]:
    """The event as a read answers it; a pending conference moves on one read closer to success."""
    conference = event.conference
    if conference is not None and conference.status == "pending":
        if conference.pending_reads_left > 0:
            conference.pending_reads_left -= 1
        else:
            conference.status = "success"
    return event_json(event)


def _add_calendar_routes(app: FastAPI, state: MeetEmulatorState) -> None:
    prefix = "/calendar/v3/calendars/{calendar_id}/events"

    @app.post(prefix)
    async def insert_event(calendar_id: str, request: Request) -> JSONResponse:
        issued = await _guard(request, state, CALENDAR_SCOPES, calendar_style=True)
        if isinstance(issued, JSONResponse):
            return issued
        owner = _owned_calendar(calendar_id, issued)
        if owner is None:
            return calendar_error(404, "notFound", "Not Found")
        body = await _json_body(request)
        if body is None:
            return calendar_error(400, "parseError", "Parse Error")
        invalid = _validate_event_fields(body, creating=True)
        if invalid is not None:
            return calendar_error(400, "invalid", invalid)
        event_id = body.get("id") or state.new_id(26).lower().translate(str.maketrans("wxyz", "0123"))
        if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
            return calendar_error(400, "invalid", "Invalid resource id value.")
        conference = (
            _conference_request(body) if request.query_params.get("conferenceDataVersion") == "1" else None
        )
        if isinstance(conference, str):
            return calendar_error(400, "invalid", conference)
        now = state.now()
        with state.lock:
            if (owner, event_id) in state.events or (owner, event_id) in state.deleted_events:
                return calendar_error(409, "duplicate", "The requested identifier already exists.")
            event = CalendarEvent(event_id, owner, "", "", {}, {}, [], now, now)
            _apply_event_fields(event, body)
            if conference is not None:
                _maybe_add_conference(state, event, conference[0])
            state.events[(owner, event_id)] = event
            return JSONResponse(event_json(event))

    @app.get(prefix + "/{event_id}")
    async def get_event(calendar_id: str, event_id: str, request: Request) -> JSONResponse:
        issued = await _guard(request, state, CALENDAR_SCOPES, calendar_style=True)
        if isinstance(issued, JSONResponse):
            return issued
        owner = _owned_calendar(calendar_id, issued)
        with state.lock:
            event = state.event(owner, event_id) if owner else None
            if event is None:
                return calendar_error(404, "notFound", "Not Found")
            return JSONResponse(_read_event(event))

    @app.patch(prefix + "/{event_id}")
    async def patch_event(calendar_id: str, event_id: str, request: Request) -> JSONResponse:
        issued = await _guard(request, state, CALENDAR_SCOPES, calendar_style=True)
        if isinstance(issued, JSONResponse):
            return issued
        owner = _owned_calendar(calendar_id, issued)
        body = await _json_body(request)
        if body is None:
            return calendar_error(400, "parseError", "Parse Error")
        invalid = _validate_event_fields(body, creating=False)
        if invalid is not None:
            return calendar_error(400, "invalid", invalid)
        conference = (
            _conference_request(body) if request.query_params.get("conferenceDataVersion") == "1" else None
        )
        if isinstance(conference, str):
            return calendar_error(400, "invalid", conference)
        with state.lock:
            event = state.event(owner, event_id) if owner else None
            if event is None:
                return calendar_error(404, "notFound", "Not Found")
            _apply_event_fields(event, body)
            if conference is not None:
                _maybe_add_conference(state, event, conference[0])
            event.sequence += 1
            event.updated = state.now()
            return JSONResponse(_read_event(event))

    @app.delete(prefix + "/{event_id}", response_model=None)
    async def delete_event(calendar_id: str, event_id: str, request: Request) -> Response:
        issued = await _guard(request, state, CALENDAR_SCOPES, calendar_style=True)
        if isinstance(issued, JSONResponse):
            return issued
        owner = _owned_calendar(calendar_id, issued)
        with state.lock:
            if owner and (owner, event_id) in state.deleted_events:
                return calendar_error(410, "deleted", "Resource has been deleted")
            if not owner or state.events.pop((owner, event_id), None) is None:
                return calendar_error(404, "notFound", "Not Found")
            state.deleted_events.add((owner, event_id))
        return Response(status_code=204)


# --- Meet REST API v2 ----------------------------------------------------------------------------


def _active_record(state: MeetEmulatorState, space_name: str) -> ConferenceRecord | None:
    with state.lock:
        return next(
            (r for r in state.records.values() if r.space.name == space_name and r.end_time is None), None
        )


def _add_meet_routes(app: FastAPI, state: MeetEmulatorState) -> None:
    @app.get("/v2/conferenceRecords")
    async def list_records(request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        raw_filter = request.query_params.get("filter", "")
        with state.lock:
            records = list(state.records.values())
        if raw_filter:
            matched = _RECORD_FILTER.match(raw_filter)
            if matched is None:
                return rpc_error(400, "INVALID_ARGUMENT", f"Invalid filter: {raw_filter}")
            field, value = matched.groups()
            if field == "meeting_code":
                records = [r for r in records if r.space.meeting_code == value]
            else:
                records = [r for r in records if r.space.name == value]
        records.sort(key=lambda r: (r.start_time, r.id), reverse=True)
        return _page(
            state,
            request,
            f"records?{raw_filter}",
            [record_json(r) for r in records],
            "conferenceRecords",
            default=25,
            maximum=100,
        )

    @app.get("/v2/{resource:path}")
    async def get_resource(resource: str, request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        parts = resource.split("/")
        if len(parts) == 2 and parts[0] == "spaces":
            space = state.space(resource)
            if space is None:
                return rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
            return JSONResponse(space_json(space, _active_record(state, space.name)))
        if len(parts) < 2 or parts[0] != "conferenceRecords":
            return rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
        return _conference_resource(state, request, parts)


def _conference_resource(state: MeetEmulatorState, request: Request, parts: list[str]) -> JSONResponse:
    not_found = rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
    record = state.record(parts[1])
    if record is None:
        return not_found
    with state.lock:
        if len(parts) == 2:
            return JSONResponse(record_json(record))
        if parts[2] != "participants":
            return not_found
        if len(parts) == 3:
            participants = sorted(
                record.participants, key=lambda p: (min(s.start_time for s in p.sessions), p.id), reverse=True
            )
            items = [participant_json(record, p) for p in participants]
            return _page(
                state, request, f"{record.id}/participants", items, "participants", default=100, maximum=250
            )
        participant = next((p for p in record.participants if p.id == parts[3]), None)
        if participant is None:
            return not_found
        if len(parts) == 4:
            return JSONResponse(participant_json(record, participant))
        if parts[4] != "participantSessions":
            return not_found
        if len(parts) == 5:
            sessions = sorted(participant.sessions, key=lambda s: (s.start_time, s.id), reverse=True)
            items = [session_json(record, participant, s) for s in sessions]
            return _page(
                state,
                request,
                f"{record.id}/{participant.id}/sessions",
                items,
                "participantSessions",
                default=100,
                maximum=250,
            )
        session = next((s for s in participant.sessions if s.id == parts[5]), None)
        if session is None or len(parts) != 6:
            return not_found
        return JSONResponse(session_json(record, participant, session))


# --- Admin SDK Directory -------------------------------------------------------------------------


def _add_directory_routes(app: FastAPI, state: MeetEmulatorState) -> None:
    @app.get("/admin/directory/v1/users/{user_key}")
    async def get_user(user_key: str, request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, DIRECTORY_SCOPES, calendar_style=True), JSONResponse
        ):
            return refused
        view = request.query_params.get("viewType", "admin_view")
        if view not in ("admin_view", "domain_public"):
            return calendar_error(400, "invalid", "Invalid Input: viewType")
        user = state.config.user_by_key(user_key)
        if user is None:
            return calendar_error(404, "notFound", "Resource Not Found: userKey")
        given, _, family = user.display_name.partition(" ")
        return JSONResponse(
            {
                "kind": "admin#directory#user",
                "id": user.id,
                "primaryEmail": user.email,
                "name": {"givenName": given, "familyName": family, "fullName": user.display_name},
                "emails": [{"address": user.email, "primary": True}],
            }
        )


# --- Workspace Events API ------------------------------------------------------------------------


def _ttl_seconds(raw: object, maximum: int) -> int | None:
    """A `ttl` duration in seconds; "0s" or none means the longest allowed; None when invalid."""
    if raw is None:
        return maximum
    matched = _TTL.match(raw) if isinstance(raw, str) else None
    if matched is None:
        return None
    seconds = int(matched.group(1))
    if seconds > maximum:
        return None
    return seconds or maximum


def _operation(state: MeetEmulatorState, response: dict[str, Any]) -> JSONResponse:
    name = f"operations/{state.new_id(16)}"
    operation = {"name": name, "done": True, "response": response}
    with state.lock:
        state.operations[name] = operation
    return JSONResponse(operation)


def _subscription_target_known(state: MeetEmulatorState, target: str) -> bool:
    if target.startswith("//meet.googleapis.com/spaces/"):
        return state.space(target.removeprefix("//meet.googleapis.com/")) is not None
    if target.startswith("//cloudidentity.googleapis.com/users/"):
        user_id = target.removeprefix("//cloudidentity.googleapis.com/users/")
        return any(u.id == user_id for u in state.config.users)
    return False


def _add_events_routes(app: FastAPI, state: MeetEmulatorState) -> None:
    @app.post("/v1/subscriptions")
    async def create_subscription(request: Request) -> JSONResponse:
        issued = await _guard(request, state, MEET_SCOPES, calendar_style=False)
        if isinstance(issued, JSONResponse):
            return issued
        body = await _json_body(request)
        if body is None:
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        target = body.get("targetResource")
        types = body.get("eventTypes")
        endpoint = body.get("notificationEndpoint")
        topic = endpoint.get("pubsubTopic") if isinstance(endpoint, dict) else None
        ttl = _ttl_seconds(body.get("ttl"), state.config.max_subscription_ttl_seconds)
        if not isinstance(target, str) or not _subscription_target_known(state, target):
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid target resource.")
        if not isinstance(types, list) or not types or not all(t in MEET_EVENT_TYPES for t in types):
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid event types.")
        if not isinstance(topic, str) or not _TOPIC.match(topic):
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid notification endpoint.")
        if ttl is None:
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid ttl.")
        now = state.now()
        with state.lock:
            for existing in state.live_subscriptions():
                if existing.target_resource == target and set(existing.event_types) & set(types):
                    return rpc_error(409, "ALREADY_EXISTS", f"Subscription already exists: {existing.name}")
            subscription = Subscription(
                id=state.new_id(),
                uid=state.new_id(),
                target_resource=target,
                event_types=list(types),
                pubsub_topic=topic,
                subject=issued.subject,
                create_time=now,
                update_time=now,
                expire_time=now + timedelta(seconds=ttl),
            )
            state.subscriptions[subscription.id] = subscription
        return _operation(state, {"@type": SUBSCRIPTION_TYPE, **subscription_json(subscription)})

    @app.get("/v1/subscriptions")
    async def list_subscriptions(request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        raw_filter = request.query_params.get("filter", "")
        if "event_types" not in raw_filter:
            return rpc_error(400, "INVALID_ARGUMENT", "Filter must specify event_types.")
        target = _TARGET_FILTER.search(raw_filter)
        found = [
            s
            for s in state.live_subscriptions()
            if (target is None or s.target_resource == target.group(1))
            and any(t in raw_filter for t in s.event_types)
        ]
        return _page(
            state,
            request,
            f"subscriptions?{raw_filter}",
            [subscription_json(s) for s in found],
            "subscriptions",
            default=50,
            maximum=100,
        )

    @app.get("/v1/subscriptions/{subscription_id}")
    async def get_subscription(subscription_id: str, request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        found = next((s for s in state.live_subscriptions() if s.id == subscription_id), None)
        if found is None:
            return rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
        return JSONResponse(subscription_json(found))

    @app.patch("/v1/subscriptions/{subscription_id}")
    async def patch_subscription(subscription_id: str, request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        body = await _json_body(request)
        if body is None:
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        mask = request.query_params.get("updateMask", "")
        if mask not in {"ttl", "expire_time"}:
            return rpc_error(400, "INVALID_ARGUMENT", "Only ttl or expire_time can be updated.")
        ttl = _ttl_seconds(body.get("ttl"), state.config.max_subscription_ttl_seconds)
        if ttl is None:
            return rpc_error(400, "INVALID_ARGUMENT", "Invalid ttl.")
        with state.lock:
            found = next((s for s in state.live_subscriptions() if s.id == subscription_id), None)
            if found is None:
                return rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
            found.update_time = state.now()
            found.expire_time = found.update_time + timedelta(seconds=ttl)
            document = subscription_json(found)
        return _operation(state, {"@type": SUBSCRIPTION_TYPE, **document})

    @app.delete("/v1/subscriptions/{subscription_id}")
    async def delete_subscription(subscription_id: str, request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        with state.lock:
            live = {s.id for s in state.live_subscriptions()}
            if subscription_id not in live:
                if request.query_params.get("allowMissing") == "true":
                    return _operation(state, {"@type": EMPTY_TYPE})
                return rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
            del state.subscriptions[subscription_id]
        return _operation(state, {"@type": EMPTY_TYPE})

    @app.get("/v1/operations/{operation_id}")
    async def get_operation(operation_id: str, request: Request) -> JSONResponse:
        if isinstance(
            refused := await _guard(request, state, MEET_SCOPES, calendar_style=False), JSONResponse
        ):
            return refused
        with state.lock:
            operation = state.operations.get(f"operations/{operation_id}")
        if operation is None:
            return rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
        return JSONResponse(operation)
