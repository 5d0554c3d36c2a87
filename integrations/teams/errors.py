"""Turning Graph's HTTP answers into the provider error tree of `integrations.base`.

Graph errors are `{"error": {"code": "...", "message": "...", "innerError": {...}}}`. Throttling
is 429 (a 503 may be throttling too), with `Retry-After` in seconds that may be fractional
("2.128").
"""

from __future__ import annotations

import math

import httpx

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from service.domain.meeting import ProviderName

TEAMS = ProviderName.TEAMS
_MAX_MESSAGE_CHARS = 300


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in seconds (fractional allowed); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def graph_error_body(response: httpx.Response) -> tuple[str | None, str]:
    """Graph's (code, message), or (None, a short description) when the body is not Graph's JSON."""
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code} with a non-JSON body"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, f"HTTP {response.status_code}"
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {response.status_code}")
    return (code if isinstance(code, str) else None), message[:_MAX_MESSAGE_CHARS]


def error_from_response(response: httpx.Response) -> ProviderError:
    status = response.status_code
    code, message = graph_error_body(response)
    described = f"{message} (Graph {code}, HTTP {status})" if code else f"{message} (HTTP {status})"
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return ProviderRateLimited(TEAMS, described, status=status, retry_after=retry_after)
    if status in (401, 403):
        return ProviderAuthError(TEAMS, described, status=status)
    if status == 404:
        return ProviderNotFound(TEAMS, described, status=status)
    if status >= 500:
        return ProviderUnavailable(TEAMS, described, status=status)
    return ProviderRejected(TEAMS, described, status=status)
