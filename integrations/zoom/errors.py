"""Turning Zoom's HTTP answers into the provider error tree of `integrations.base`.

Zoom errors are `{"code": <int>, "message": "..."}`. The per-user daily create/update limit is a
429 (status 300 in old specs) whose message names the daily limit; its Retry-After, when sent,
is an ISO datetime (next 00:00 UTC) rather than seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from service.domain.meeting import ProviderName

ZOOM = ProviderName.ZOOM
INVALID_TOKEN_CODE = 124
_MAX_MESSAGE_CHARS = 300


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: seconds, an ISO datetime or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def zoom_error_body(response: requests.Response) -> tuple[int | None, str]:
    """Zoom's (code, message), or (None, a short description) when the body is not Zoom's JSON."""
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code} with a non-JSON body"
    if not isinstance(body, dict):
        return None, f"HTTP {response.status_code}"
    code = body.get("code")
    message = str(body.get("message") or body.get("reason") or f"HTTP {response.status_code}")
    return (code if isinstance(code, int) else None), message[:_MAX_MESSAGE_CHARS]


def is_daily_limit(response: requests.Response, message: str) -> bool:
    if response.headers.get("X-RateLimit-Type", "").lower() == "daily-limit":
        return True
    return "daily rate limit" in message.lower()


def error_from_response(response: requests.Response, now: datetime) -> ProviderError:
    status = response.status_code
    code, message = zoom_error_body(response)
    described = f"{message} (Zoom code {code}, HTTP {status})" if code is not None else message
    if status == 429 or (status == 400 and code == 300 and is_daily_limit(response, message)):
        daily = is_daily_limit(response, message)
        return ProviderRateLimited(
            ZOOM,
            described,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            daily_limit=daily,
        )
    if status in (401, 403):
        return ProviderAuthError(ZOOM, described, status=status)
    if status == 404:
        return ProviderNotFound(ZOOM, described, status=status)
    if status >= 500:
        return ProviderUnavailable(ZOOM, described, status=status)
    return ProviderRejected(ZOOM, described, status=status)
