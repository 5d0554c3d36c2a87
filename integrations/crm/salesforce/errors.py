"""How Salesforce fails, and how its answers turn into that tree.

    SalesforceError               base; `code` is stable, `retryable` says if trying again may help
    ├── SalesforceAuthError       token refused, or a 401 even with a fresh token (not retryable)
    ├── SalesforceNotFound        no such record or sObject type (not retryable)
    ├── SalesforceRejected        our write was refused: bad field, bad value (not retryable)
    ├── SalesforceLimited         the org's API limit (403 REQUEST_LIMIT_EXCEEDED), or a 429;
    │                             `retry_after` seconds (retryable)
    └── SalesforceUnavailable     5xx, timeout, connection failure, unreadable answer (retryable)

REST errors are a JSON array `[{"message", "errorCode", "fields"}]`; token errors are
`{"error", "error_description"}`. Every API answer carries `Sforce-Limit-Info: api-usage=N/LIMIT`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

_MAX_MESSAGE_CHARS = 300
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
# The org's limit is a rolling 24 h window: nothing frees up quickly, so wait this long by default.
DEFAULT_LIMIT_WAIT_SECONDS = 15 * 60.0


class SalesforceError(Exception):
    code = "crm_error"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        # Salesforce's own errorCode (INVALID_FIELD, NOT_FOUND...), when it sent one.
        self.error_code = error_code


class SalesforceAuthError(SalesforceError):
    code = "crm_auth_failed"


class SalesforceNotFound(SalesforceError):
    code = "crm_not_found"


class SalesforceRejected(SalesforceError):
    code = "crm_rejected"


class SalesforceLimited(SalesforceError):
    code = "crm_rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, error_code=error_code)
        self.retry_after = retry_after


class SalesforceUnavailable(SalesforceError):
    code = "crm_unavailable"
    retryable = True


@dataclass(frozen=True)
class ApiUsage:
    """`Sforce-Limit-Info`: API calls used in the org's rolling 24 h window, and the limit."""

    used: int
    limit: int

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit else 1.0


def api_usage(response: httpx.Response) -> ApiUsage | None:
    match = _LIMIT_INFO.search(response.headers.get("sforce-limit-info", ""))
    return ApiUsage(int(match.group(1)), int(match.group(2))) if match else None


def rest_error(response: httpx.Response) -> tuple[str | None, str]:
    """Salesforce's (errorCode, message) from an error array, or (None, a short description)."""
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code} with a non-JSON body"
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else None
    if first is None:
        return None, f"HTTP {response.status_code}"
    code = first.get("errorCode")
    message = str(first.get("message") or f"HTTP {response.status_code}")[:_MAX_MESSAGE_CHARS]
    return (str(code) if code else None), message


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> SalesforceError:
    """The error a non-2xx REST answer means (a 401 here is after the token was already refreshed)."""
    status = response.status_code
    code, message = rest_error(response)
    described = f"{message} ({code}, HTTP {status})" if code else f"{message} (HTTP {status})"
    if status == 429 or code == "REQUEST_LIMIT_EXCEEDED":
        wait = _retry_after_seconds(response)
        return SalesforceLimited(
            described,
            status=status,
            error_code=code,
            retry_after=wait if wait is not None else DEFAULT_LIMIT_WAIT_SECONDS,
        )
    if status >= 500 or status == 408:
        return SalesforceUnavailable(described, status=status, error_code=code)
    if status == 401:
        return SalesforceAuthError(described, status=status, error_code=code)
    if status == 404:
        return SalesforceNotFound(described, status=status, error_code=code)
    return SalesforceRejected(described, status=status, error_code=code)


def token_error(response: httpx.Response) -> SalesforceError:
    """The error a refused token request means; `error_description` never echoes a credential."""
    if response.status_code >= 500 or response.status_code == 429:
        return SalesforceUnavailable(f"token endpoint answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    text = f"{error or 'token refused'}: {description or ''}".strip(": ")[:_MAX_MESSAGE_CHARS]
    return SalesforceAuthError(
        f"{text} (HTTP {response.status_code})", status=response.status_code, error_code=error
    )
