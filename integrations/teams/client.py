"""msal and httpx wiring: app-only tokens shared by every call, Graph calls with retries.

msal 1.39 traps this module works around (libraries.md §2):
- `ConfidentialClientApplication.__init__` fetches the OpenID discovery document (blocking). The
  app is built lazily, on first use, under the token lock; a failed build is tried again next time.
- It refuses http authorities; the sandbox serves TLS with a generated CA, trusted through
  `ca_bundle`. With `REQUESTS_CA_BUNDLE` set (this machine exports it) requests would ignore a
  session's `verify`, so our own tiny `http_client` passes `verify=` and a timeout on every request.
- It has no protection against a thundering herd (16 threads, 16 token requests): every token
  request here goes through one lock, so one is in flight at a time and the rest read the cache.
- Refusals come back as result dicts (`{"error": "invalid_client", ...}`), a 5xx as an exception.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal
import requests

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from integrations.teams.config import TeamsConfig
from integrations.teams.errors import TEAMS, error_from_response, parse_retry_after

GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]
# Errors from the token endpoint that mean our credentials or app registration are wrong.
_CREDENTIAL_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_tenant", "invalid_request"}
)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class EntraApp:
    """The app registration: tenant and client id from the config section, the secret from the environment."""

    tenant_id: str
    client_id: str
    # Kept out of repr so a logged object never shows it.
    client_secret: str = field(repr=False)

    @classmethod
    def of(cls, settings: TeamsConfig, client_secret: str) -> EntraApp:
        if not settings.tenant_id or not settings.client_id:
            raise ValueError("providers.teams needs tenant_id and client_id")
        return cls(settings.tenant_id, settings.client_id, client_secret)


class _TokenHttp:
    """The `http_client` msal uses: a requests session that verifies against `ca_bundle` (when
    set) and times out, on every request, whatever the environment says."""

    def __init__(self, ca_bundle: Path | None, timeout: float) -> None:
        self._session = requests.Session()
        self._verify: str | bool = str(ca_bundle) if ca_bundle is not None else True
        self._timeout = timeout

    def get(self, url: str, params: Any = None, headers: Any = None, **_ignored: Any) -> requests.Response:
        return self._session.get(
            url, params=params, headers=headers, verify=self._verify, timeout=self._timeout
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_ignored: Any
    ) -> requests.Response:
        return self._session.post(
            url, params=params, data=data, headers=headers, verify=self._verify, timeout=self._timeout
        )

    def close(self) -> None:
        self._session.close()


class GraphTokens:
    """App-only Graph tokens from one msal app: one cache for every call, one request at a time."""

    def __init__(self, settings: TeamsConfig, app: EntraApp) -> None:
        self._settings = settings
        self._app = app
        self._lock = threading.Lock()
        self._msal: Any = None
        self._last_token: str | None = None
        self._http = _TokenHttp(settings.ca_bundle, settings.timeout_seconds)
        # Its pooled connections are closed even when nobody calls close() (a runtime dropped).
        weakref.finalize(self, self._http.close)

    def _build(self) -> Any:
        settings = self._settings
        authority = f"{settings.authority_url.rstrip('/')}/{self._app.tenant_id}"
        try:
            return msal.ConfidentialClientApplication(
                self._app.client_id,
                client_credential=self._app.client_secret,
                authority=authority,
                # Instance discovery asks login.microsoftonline.com about the authority's host;
                # the tenant's own OpenID document is all we need (and all the sandbox serves).
                instance_discovery=False,
                http_client=self._http,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(TEAMS, f"identity platform unreachable ({type(exc).__name__})") from exc
        except ValueError as exc:
            # msal raises ValueError when the discovery document cannot be had (unknown tenant...).
            raise ProviderAuthError(
                TEAMS, "the tenant's OpenID configuration could not be read (check tenant_id, authority_url)"
            ) from exc

    def token(self) -> str:
        """A valid access token (from the cache while it has more than 5 minutes left)."""
        with self._lock:
            if self._msal is None:
                self._msal = self._build()
            try:
                result = self._msal.acquire_token_for_client(scopes=GRAPH_SCOPES)
            except requests.RequestException as exc:
                raise ProviderUnavailable(
                    TEAMS, f"token endpoint unreachable ({type(exc).__name__})"
                ) from exc
            except msal.exceptions.MsalServiceError as exc:
                raise ProviderUnavailable(
                    TEAMS, f"token endpoint failed ({exc.error or 'server error'})"
                ) from exc
            return self._token_from(result)

    def _token_from(self, result: Mapping[str, Any] | None) -> str:
        if not isinstance(result, Mapping):
            raise ProviderUnavailable(TEAMS, "token endpoint gave no answer")
        token = result.get("access_token")
        if isinstance(token, str) and token:
            self._last_token = token
            return token
        error = str(result.get("error") or "unknown_error")
        codes = result.get("error_codes") or []
        detail = f"{error} (AADSTS{codes[0]})" if codes else error
        if error in _CREDENTIAL_ERRORS:
            raise ProviderAuthError(
                TEAMS, f"token request refused: {detail} (check tenant_id, client_id and the client secret)"
            )
        raise ProviderUnavailable(TEAMS, f"token request failed: {detail}")

    def close(self) -> None:
        with self._lock:
            self._http.close()

    def reject(self, token: str) -> None:
        """Graph refused `token` (expired early, revoked): drop it so the next call asks afresh."""
        with self._lock:
            if self._msal is not None and token == self._last_token:
                self._msal.remove_tokens_for_client()
                self._last_token = None


def _ssl_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    if ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(ca_bundle))


class GraphApi:
    """Graph calls over one shared httpx client, with token refresh, retries and error mapping."""

    def __init__(
        self,
        settings: TeamsConfig,
        tokens: GraphTokens,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._sleep = sleep
        self._base = settings.graph_base_url.rstrip("/")
        self._http = httpx.Client(
            verify=_ssl_context(settings.ca_bundle),
            timeout=settings.timeout_seconds,
            limits=httpx.Limits(max_connections=settings.max_concurrency),
        )
        weakref.finalize(self, self._http.close)

    def close(self) -> None:
        self._http.close()
        self._tokens.close()

    def token(self) -> str:
        return self._tokens.token()

    def url(self, path: str) -> str:
        """A path under the Graph base URL, or an absolute link Graph gave (`@odata.nextLink`),
        which must point at Graph itself: our bearer token goes nowhere else."""
        if not (path.startswith("https://") or path.startswith("http://")):
            return f"{self._base}/{path}"
        if urlsplit(path)[:2] != urlsplit(self._base)[:2]:
            raise ProviderUnavailable(TEAMS, "Graph gave a link to another host; not followed")
        return path

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one Graph request; return its 2xx response or raise the mapped ProviderError.

        Retryable failures (429, 5xx, connection failures) are retried up to `max_retries`
        times, waiting what Retry-After says when Graph says. A read timeout is retried only for
        idempotent calls. A 401 drops the token and tries once more with a fresh one.
        """
        refreshed = False
        attempt = 0
        while True:
            token = self._tokens.token()
            wait_hint: float | None = None
            try:
                response = self._http.request(
                    method,
                    self.url(path),
                    json=json,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                error: ProviderError = ProviderUnavailable(TEAMS, f"Graph unreachable ({type(exc).__name__})")
                may_retry = idempotent or not isinstance(exc, httpx.ReadTimeout)
            else:
                if response.status_code < 400:
                    return response
                if response.status_code == 401 and not refreshed:
                    refreshed = True
                    self._tokens.reject(token)
                    continue
                error = error_from_response(response)
                may_retry = response.status_code in _RETRY_STATUSES
                if response.status_code in (429, 503):
                    wait_hint = parse_retry_after(response.headers.get("Retry-After"))
            if not may_retry or attempt >= self._settings.max_retries:
                raise error
            self._sleep(self._backoff(attempt, error, wait_hint))
            attempt += 1

    def _backoff(self, attempt: int, error: ProviderError, wait_hint: float | None) -> float:
        settings = self._settings
        wanted = settings.retry_base_delay_seconds * 2.0**attempt * (0.5 + random.random() / 2)  # noqa: S311
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            wanted = error.retry_after
        elif wait_hint is not None:
            wanted = wait_hint
        return min(wanted, settings.max_retry_wait_seconds)
