"""Graph's `/subscriptions`: create (after the validation handshake), read, renew, delete, reauthorize.

Creating POSTs `?validationToken=<opaque>` to the notification URL (and to the lifecycle URL) and
needs the token back, URL-decoded, as `text/plain` with 200 within 10 s. Real Graph wants https
notification URLs; the emulator also takes http to a loopback host. A subscription past its
expiry is gone (renewing it is 404), as Graph removes expired subscriptions.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from integrations.sandbox.teams.guard import BadBody, guard, json_object
from integrations.sandbox.teams.state import Subscription, TeamsEmulatorState
from integrations.sandbox.teams.wire import graph_error, parse_graph_time, subscription_json

_RESOURCES = frozenset({"communications/callRecords"})
_CHANGE_TYPES = frozenset({"created", "updated"})
_FIELDS = frozenset(
    {
        "changeType",
        "notificationUrl",
        "lifecycleNotificationUrl",
        "resource",
        "expirationDateTime",
        "clientState",
        "includeResourceData",
        "latestSupportedTlsVersion",
    }
)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise BadBody(f"{name} is required.")
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return value
    raise BadBody(f"Invalid {name}: it must be an https URL.")


def _expiration(value: object, now: datetime, max_minutes: int) -> datetime:
    moment = parse_graph_time(value)
    if moment is None:
        raise BadBody("expirationDateTime must be an ISO 8601 time with an offset.")
    if moment <= now:
        raise BadBody("Subscription expiration must be in the future.")
    if moment > now + timedelta(minutes=max_minutes):
        raise BadBody(f"Subscription expiration can only be {max_minutes} minutes in the future.")
    return moment


async def _validated(url: str, state: TeamsEmulatorState) -> str | None:
    """Run the handshake against `url`; None when it passed, else why it failed."""
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    timeout = state.config.validation_timeout_seconds
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            answer = await client.post(
                url, params={"validationToken": token}, headers={"content-type": "text/plain; charset=utf-8"}
            )
    except httpx.TimeoutException:
        return f"Subscription validation request timed out after {timeout:g} s."
    except httpx.HTTPError as exc:
        return f"Subscription validation request failed: {type(exc).__name__}."
    content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    ok = answer.status_code == 200 and content_type == "text/plain" and answer.text == token
    with state.lock:
        state.validation_results.append((url, ok))
    if not ok:
        return (
            "Subscription validation request failed. Response must exactly match validationToken query "
            f"parameter (HTTP {answer.status_code}, {content_type or 'no content type'})."
        )
    return None


def add_subscription_routes(app: FastAPI, state: TeamsEmulatorState) -> None:
    tenant = state.config.tenant_id
    config = state.config

    def missing(subscription_id: str) -> JSONResponse:
        return graph_error(404, "ResourceNotFound", f"The object '{subscription_id}' was not found.")

    @app.post("/v1.0/subscriptions")
    async def create(request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        try:
            body = await json_object(request)
            unknown = set(body) - _FIELDS
            if unknown:
                raise BadBody(f"Invalid request property '{sorted(unknown)[0]}'.")
            resource = body.get("resource")
            if not isinstance(resource, str) or resource.strip("/") not in _RESOURCES:
                raise BadBody(f"Resource '{resource}' is not supported for change notifications.")
            change_type = body.get("changeType")
            kinds = change_type.split(",") if isinstance(change_type, str) else []
            if not kinds or any(k.strip() not in _CHANGE_TYPES for k in kinds):
                raise BadBody(f"Invalid changeType '{change_type}' for {resource}.")
            notification_url = _url(body.get("notificationUrl"), "notificationUrl")
            lifecycle = body.get("lifecycleNotificationUrl")
            lifecycle_url = _url(lifecycle, "lifecycleNotificationUrl") if lifecycle is not None else None
            expiration = _expiration(
                body.get("expirationDateTime"), state.now(), config.max_subscription_minutes
            )
            client_state = body.get("clientState")
            if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
                raise BadBody("clientState must be a string of at most 128 characters.")
            if body.get("includeResourceData") not in (None, False):
                raise BadBody("includeResourceData is not supported for callRecords.")
        except BadBody as bad:
            return graph_error(400, "BadRequest", str(bad))
        for url in dict.fromkeys(u for u in (notification_url, lifecycle_url) if u is not None):
            failure = await _validated(url, state)
            if failure is not None:
                return graph_error(400, "ValidationError", failure)
        subscription = Subscription(
            id=state.new_guid(),
            resource=resource,
            change_type=",".join(k.strip() for k in kinds),
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=client_state,
            expiration=expiration,
            application_id=config.client_id,
        )
        with state.lock:
            state.subscriptions[subscription.id] = subscription
        return JSONResponse(subscription_json(subscription, tenant), status_code=201)

    @app.get("/v1.0/subscriptions/{subscription_id}")
    async def read(subscription_id: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        found = state.live_subscription(subscription_id)
        if found is None:
            return missing(subscription_id)
        return JSONResponse(subscription_json(found, tenant))

    @app.patch("/v1.0/subscriptions/{subscription_id}")
    async def renew(subscription_id: str, request: Request) -> JSONResponse:
        if (refused := await guard(request, state)) is not None:
            return refused
        found = state.live_subscription(subscription_id)
        if found is None:
            return missing(subscription_id)
        try:
            body = await json_object(request)
            if set(body) != {"expirationDateTime"}:
                raise BadBody("Only expirationDateTime can be updated.")
            expiration = _expiration(body["expirationDateTime"], state.now(), config.max_subscription_minutes)
        except BadBody as bad:
            return graph_error(400, "BadRequest", str(bad))
        with state.lock:
            found.expiration = expiration
        return JSONResponse(subscription_json(found, tenant))

    @app.delete("/v1.0/subscriptions/{subscription_id}", response_model=None)
    async def delete(subscription_id: str, request: Request) -> Response:
        if (refused := await guard(request, state)) is not None:
            return refused
        if state.live_subscription(subscription_id) is None:
            return missing(subscription_id)
        with state.lock:
            state.subscriptions.pop(subscription_id, None)
        return Response(status_code=204)

    @app.post("/v1.0/subscriptions/{subscription_id}/reauthorize", response_model=None)
    async def reauthorize(subscription_id: str, request: Request) -> Response:
        if (refused := await guard(request, state)) is not None:
            return refused
        found = state.live_subscription(subscription_id)
        if found is None:
            return missing(subscription_id)
        with state.lock:
            found.reauthorized_count += 1
        return Response(status_code=204)
