"""google-api-python-client wiring: service-account credentials per impersonated user, one service
object per call (they are not thread-safe: never shared across threads), retries and error mapping.

google-api-python-client 2.202 / google-auth 2.63 facts this module relies on (libraries.md §3):
- `client_options={"api_endpoint": X}` replaces rootUrl and servicePath: Calendar's X ends in
  `/calendar/v3/`, Meet's, the Directory's and Workspace Events' are the API's root.
- google-auth signs the assertion with `aud` = Google's token URL whatever `token_uri` is, and
  refreshes on its own before expiry and once on a 401 (google_auth_httplib2.AuthorizedHttp).
- `execute(num_retries=0)`: retries are ours, with an injectable sleep.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_exceptions
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from integrations.meet.config import MeetConfig
from integrations.meet.errors import (
    MEET,
    NETWORK_ERRORS,
    error_from_http,
    error_from_network,
    error_from_refresh,
)

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events"
MEET_READ_SCOPE = "https://www.googleapis.com/auth/meetings.space.readonly"
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"


@dataclass(frozen=True)
class GoogleApi:
    name: str
    version: str
    scope: str
    endpoint: Callable[[MeetConfig], str]


def _events_root(section: MeetConfig) -> str:
    # The config names the versioned base (…/v1); the discovery paths start with `v1/`.
    return section.workspace_events_url.rstrip("/").removesuffix("/v1")


CALENDAR = GoogleApi("calendar", "v3", CALENDAR_SCOPE, lambda s: s.calendar_api_url)
MEET_REST = GoogleApi("meet", "v2", MEET_READ_SCOPE, lambda s: s.meet_api_url)
DIRECTORY = GoogleApi("admin", "directory_v1", DIRECTORY_SCOPE, lambda s: s.directory_api_url)
WORKSPACE_EVENTS = GoogleApi("workspaceevents", "v1", MEET_READ_SCOPE, _events_root)

# One call: given a service object, the request to execute.
GoogleCall = Callable[[Any], Any]


def load_key_file(path: str) -> dict[str, str]:
    """The service account's JSON key; its content never appears in an error."""
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except OSError as exc:
        raise ProviderAuthError(MEET, f"service account key file unreadable ({type(exc).__name__})") from exc
    except ValueError as exc:
        raise ProviderAuthError(MEET, "service account key file is not JSON") from exc
    if not isinstance(info, dict) or info.get("type") != "service_account" or not info.get("private_key"):
        raise ProviderAuthError(MEET, "service account key file is not a service account key")
    return {str(k): str(v) for k, v in info.items()}


class GoogleApis:
    """Credentials cached per (user, scope); a fresh service object and HTTP connection per call."""

    def __init__(
        self,
        section: MeetConfig,
        key_file: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._section = section
        self._key_file = key_file
        self._sleep = sleep
        self._lock = threading.Lock()
        self._info: Mapping[str, str] | None = None
        self._credentials: dict[tuple[str, str], service_account.Credentials] = {}

    @property
    def section(self) -> MeetConfig:
        return self._section

    def credentials(self, subject: str, scope: str) -> service_account.Credentials:
        with self._lock:
            if self._info is None:
                # The config's token URL wins over the key's `token_uri` (sandbox, private endpoints).
                self._info = {**load_key_file(self._key_file), "token_uri": self._section.token_url}
            found = self._credentials.get((subject, scope))
            if found is None:
                try:
                    base = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                        self._info, scopes=[scope]
                    )
                except (ValueError, auth_exceptions.GoogleAuthError) as exc:
                    raise ProviderAuthError(MEET, "service account key is unusable") from exc
                found = base.with_subject(subject)
                self._credentials[(subject, scope)] = found
            return found

    def _http(self, subject: str, scope: str) -> google_auth_httplib2.AuthorizedHttp:
        return google_auth_httplib2.AuthorizedHttp(
            self.credentials(subject, scope), http=httplib2.Http(timeout=self._section.timeout_seconds)
        )

    def fetch_token(self, subject: str, scope: str) -> None:
        """Obtain a token for `subject` now (health checks); raises the mapped ProviderError."""
        credentials = self.credentials(subject, scope)
        http = httplib2.Http(timeout=self._section.timeout_seconds)
        try:
            credentials.refresh(google_auth_httplib2.Request(http))  # type: ignore[no-untyped-call]
        except auth_exceptions.RefreshError as exc:
            raise error_from_refresh(exc, subject) from exc
        except NETWORK_ERRORS as exc:
            raise error_from_network(exc) from exc
        finally:
            http.close()

    def _once(self, api: GoogleApi, subject: str, operation: GoogleCall) -> Any:
        http = self._http(subject, api.scope)
        service = build(
            api.name,
            api.version,
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": api.endpoint(self._section)},
        )
        try:
            return operation(service).execute(num_retries=0)
        finally:
            service.close()

    def call(self, api: GoogleApi, subject: str, operation: GoogleCall) -> Any:
        """Run one API call as `subject`; return its parsed answer or raise the mapped ProviderError.

        Every call salesmeet makes is idempotent (creates carry ids derived from our meeting id),
        so retryable failures are retried up to `max_retries` times with backoff.
        """
        attempt = 0
        while True:
            try:
                return self._once(api, subject, operation)
            except HttpError as exc:
                error = error_from_http(exc)
            except auth_exceptions.RefreshError as exc:
                error = error_from_refresh(exc, subject)
            except ProviderError:
                raise
            except NETWORK_ERRORS as exc:
                error = error_from_network(exc)
            if not error.retryable or attempt >= self._section.max_retries:
                raise error
            self._sleep(self._backoff(attempt, error))
            attempt += 1

    def _backoff(self, attempt: int, error: ProviderError) -> float:
        section = self._section
        wanted = section.retry_base_delay_seconds * 2.0**attempt
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            wanted = max(wanted, error.retry_after)
        return min(wanted, section.max_retry_wait_seconds)


def unreadable(what: str) -> ProviderUnavailable:
    return ProviderUnavailable(MEET, f"unreadable answer ({what})")
