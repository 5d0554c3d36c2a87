"""What every Graph call passes first: the request log, latency, the bearer token, injected faults."""

from __future__ import annotations

import asyncio
import json

from fastapi import Request
from fastapi.responses import JSONResponse

from integrations.sandbox.teams.state import TeamsEmulatorState, TokenStatus
from integrations.sandbox.teams.wire import graph_error


async def guard(request: Request, state: TeamsEmulatorState) -> JSONResponse | None:
    """None when the call may proceed; else the answer Graph would give instead."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    with state.lock:
        state.api_requests.append((request.method, path))
    if state.faults.latency_seconds:
        await asyncio.sleep(state.faults.latency_seconds)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
    status = state.token_status(token.strip())
    if status is TokenStatus.EXPIRED:
        return graph_error(
            401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
        )
    if status is TokenStatus.INVALID:
        return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
    fault = state.faults.next_fault()
    if fault is None:
        return None
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    if fault.status == 429:
        return graph_error(429, "TooManyRequests", "Please retry again later.", headers)
    return graph_error(
        fault.status,
        "ServiceUnavailable" if fault.status == 503 else "UnknownError",
        "The service is temporarily unavailable.",
        headers,
    )


class BadBody(ValueError):
    """A request body Graph would refuse with 400 BadRequest."""


async def json_object(request: Request) -> dict[str, object]:
    raw = await request.body()
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        raise BadBody("Content-Type must be application/json.")
    try:
        parsed: object = json.loads(raw or b"null")
    except ValueError as exc:
        raise BadBody("Unable to read JSON request payload.") from exc
    if not isinstance(parsed, dict):
        raise BadBody("The request body must be a JSON object.")
    return parsed
