"""Google's failures as the provider error tree of `integrations.base`.

Two error body shapes reach us:
- Calendar and Directory: `{"error": {"errors": [{"domain", "reason", "message"}], "code", "message"}}`;
  rate limits are 403 with reason `rateLimitExceeded`/`userRateLimitExceeded` (or `quotaExceeded`), or 429.
- Meet REST and Workspace Events (google.rpc Status): `{"error": {"code", "message", "status"}}`;
  rate limits are 429 `RESOURCE_EXHAUSTED`.
A token the token endpoint refuses surfaces as google-auth's `RefreshError`; the network's failures
as socket, httplib2 or google-auth transport errors.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from service.domain.meeting import ProviderName

MEET = ProviderName.MEET
# The token endpoint's refusal when the user to impersonate does not exist.
UNKNOWN_USER = "Invalid email or User ID"
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
_MAX_MESSAGE_CHARS = 300

# What a failed exchange with Google can raise besides HttpError.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, socket.timeout (TimeoutError)
    socket.timeout,
    httplib2.HttpLib2Error,
    auth_exceptions.TransportError,
)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def google_error_body(content: bytes) -> tuple[str | None, str | None, str]:
    """(reason, status name, message) of an error body; Nones when the body is not Google's JSON."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None, None, "non-JSON error body"
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None, "unrecognised error body"
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = first.get("reason")
    status_name = error.get("status")
    message = str(error.get("message") or first.get("message") or "")[:_MAX_MESSAGE_CHARS]
    return (
        reason if isinstance(reason, str) else None,
        status_name if isinstance(status_name, str) else None,
        message,
    )


def error_from_http(exc: HttpError) -> ProviderError:
    status = int(exc.resp.status)
    reason, status_name, message = google_error_body(exc.content or b"")
    label = reason or status_name
    described = f"{message} ({label}, HTTP {status})" if label else f"{message} (HTTP {status})"
    if (
        status == 429
        or status_name == "RESOURCE_EXHAUSTED"
        or (status == 403 and reason in RATE_LIMIT_REASONS)
    ):
        return ProviderRateLimited(
            MEET, described, status=status, retry_after=_retry_after(exc.resp.get("retry-after"))
        )
    if status in (401, 403):
        return ProviderAuthError(MEET, described, status=status)
    if status in (404, 410):
        return ProviderNotFound(MEET, described, status=status)
    if status >= 500:
        return ProviderUnavailable(MEET, described, status=status)
    return ProviderRejected(MEET, described, status=status)


def error_from_refresh(exc: auth_exceptions.RefreshError, subject: str | None = None) -> ProviderError:
    """A token request that failed: refused (bad key, no delegation), for a user Google does not
    know (the organizer has no Workspace account), or transient (google-auth says)."""
    if getattr(exc, "retryable", False):
        return ProviderUnavailable(MEET, "token endpoint failed (transient)")
    # google-auth puts the endpoint's `error: error_description` first; never the assertion.
    detail = str(exc.args[0])[:_MAX_MESSAGE_CHARS] if exc.args else "refused"
    if UNKNOWN_USER in detail:
        who = subject or "the impersonated user"
        return ProviderNotFound(
            MEET, f"{who} has no Google Workspace account in the domain ({detail})", status=400
        )
    return ProviderAuthError(
        MEET,
        f"no token for the service account: {detail} (check the key and domain-wide delegation)",
        status=401,
    )


def error_from_network(exc: BaseException) -> ProviderError:
    return ProviderUnavailable(MEET, f"Google API unreachable ({type(exc).__name__})")
