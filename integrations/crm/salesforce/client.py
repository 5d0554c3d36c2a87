"""The write-back client: PATCH a record's fields over the REST API, with its own token handling.

One `httpx.Client` per process, used from worker threads. The token is fetched on first use and
again, once, when a call answers 401 (Salesforce sessions end without warning: timeout, logout,
password change). Record writes are PATCHes of named fields, so a retry writes the same values
again and never creates anything. Each answer's `Sforce-Limit-Info` is kept in `last_usage`, so
the caller can slow down before the org's daily limit is reached.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from integrations.crm.salesforce.auth import AccessToken, Grant, fetch_token
from integrations.crm.salesforce.errors import (
    ApiUsage,
    SalesforceNotFound,
    SalesforceRejected,
    SalesforceUnavailable,
    api_usage,
    error_from_response,
)

DEFAULT_API_VERSION = "v62.0"
# sObject API names (Event, Opportunity, Meeting_Outcome__c) and 15/18-character record ids:
# checked before they become a URL path segment.
_SOBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_API_VERSION = re.compile(r"^v\d{2,3}\.\d$")


def check_api_version(version: str) -> str:
    if not _API_VERSION.match(version):
        raise ValueError(f"api_version must look like v62.0, not {version!r}")
    return version


class SalesforceClient:
    def __init__(
        self,
        token_url: str,
        grant: Grant,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout_seconds: float = 10.0,
        instance_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token_url = token_url
        self._grant = grant
        self._api_version = check_api_version(api_version)
        # Use this API host instead of the token's `instance_url` (a proxy, or a test).
        self._instance_url = instance_url.rstrip("/") if instance_url else None
        self._http = httpx.Client(timeout=timeout_seconds, transport=transport)
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.last_usage: ApiUsage | None = None

    def close(self) -> None:
        self._http.close()

    def _current_token(self, stale: AccessToken | None = None) -> AccessToken:
        with self._lock:
            # Another thread may already have replaced the token that got the 401.
            if self._token is None or self._token is stale:
                self._token = fetch_token(self._http, self._token_url, self._grant)
            return self._token

    def check_token(self) -> None:
        """Fetch a token now (for health checks): raises the SalesforceError that stops it."""
        self._current_token(self._token)

    def _url(self, token: AccessToken, sobject: str, record_id: str | None) -> str:
        base = self._instance_url or token.instance_url
        path = f"{base}/services/data/{self._api_version}/sobjects/{sobject}"
        return f"{path}/{record_id}" if record_id else path

    def _send(
        self, method: str, sobject: str, record_id: str, *, json: Any = None, params: Any = None
    ) -> httpx.Response:
        if not _SOBJECT_NAME.match(sobject):
            raise SalesforceRejected(f"not an sObject API name: {sobject[:80]!r}")
        if not _RECORD_ID.match(record_id):
            raise SalesforceNotFound(f"not a Salesforce record id: {record_id[:40]!r}")
        token = self._current_token()
        for attempt in range(2):
            try:
                response = self._http.request(
                    method,
                    self._url(token, sobject, record_id),
                    json=json,
                    params=params,
                    headers={"authorization": f"Bearer {token.value}", "accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise SalesforceUnavailable(f"{method} {sobject} failed ({type(exc).__name__})") from None
            self.last_usage = api_usage(response) or self.last_usage
            if response.status_code == 401 and attempt == 0:
                token = self._current_token(stale=token)
                continue
            if response.is_success:
                return response
            raise error_from_response(response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def update_record(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """PATCH the named fields of one record (204); the same call again changes nothing more."""
        self._send("PATCH", sobject, record_id, json=dict(fields))

    def read_record(self, sobject: str, record_id: str, fields: tuple[str, ...] = ()) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        response = self._send("GET", sobject, record_id, params=params)
        try:
            body = response.json()
        except ValueError:
            raise SalesforceUnavailable(f"GET {sobject} answered a non-JSON body") from None
        if not isinstance(body, dict):
            raise SalesforceUnavailable(f"GET {sobject} answered a non-object body")
        return body
