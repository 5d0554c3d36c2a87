"""zoomus wiring: our own token management around the real `ZoomClient`, retries, error mapping.

zoomus 1.2.1 traps this module works around (see libraries.md §1):
- `ZoomClient.__init__` fetches a token with no timeout, and a refused secret silently becomes
  `Bearer None`. So we first fetch the token ourselves (with a timeout, failing clearly), only
  then build the client, lazily on first use and under a lock, and put our token in its config.
- It never refreshes. We refresh 60 s before `expires_in` runs out, and once on a 401.
- Its `timeout` does not reach the components; we set it on each one.
- It never raises on 4xx/5xx; every answer's status is checked here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from zoomus import ZoomClient

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderUnavailable,
)
from integrations.zoom.config import ZoomConfig
from integrations.zoom.errors import ZOOM, error_from_response, zoom_error_body

REFRESH_MARGIN_SECONDS = 60.0
_DEFAULT_EXPIRES_IN = 3600.0

# One zoomus call: given the client, send one request and return its raw response.
ZoomCall = Callable[[Any], requests.Response]


@dataclass(frozen=True)
class AccessToken:
    value: str
    # On the monotonic clock: when we stop using it (expiry minus the refresh margin).
    refresh_at: float


@dataclass(frozen=True)
class ZoomApp:
    """The Server-to-Server OAuth app: its ids from the config section, its secret from the environment."""

    account_id: str
    client_id: str
    # Kept out of repr so a logged object never shows it.
    client_secret: str = field(repr=False)

    @classmethod
    def of(cls, settings: ZoomConfig, client_secret: str) -> ZoomApp:
        if not settings.account_id or not settings.client_id:
            raise ValueError("providers.zoom needs account_id and client_id")
        return cls(settings.account_id, settings.client_id, client_secret)


def fetch_token(settings: ZoomConfig, app: ZoomApp, monotonic: Callable[[], float]) -> AccessToken:
    """Server-to-Server OAuth token, with a timeout; a refusal is a ProviderAuthError."""
    try:
        response = requests.post(
            settings.token_url,
            data={"grant_type": "account_credentials", "account_id": app.account_id},
            auth=(app.client_id, app.client_secret),
            timeout=settings.timeout_seconds,
        )
    except requests.RequestException as exc:
        raise ProviderUnavailable(ZOOM, f"token endpoint unreachable ({type(exc).__name__})") from exc
    if response.status_code in (400, 401, 403):
        _, message = zoom_error_body(response)
        raise ProviderAuthError(
            ZOOM, f"token request refused: {message} (check client id, secret and account id)", status=401
        )
    if response.status_code != 200:
        raise ProviderUnavailable(ZOOM, f"token endpoint answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(ZOOM, "token endpoint answered a non-JSON body") from exc
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ProviderUnavailable(ZOOM, "token answer has no access_token")
    expires_in = body.get("expires_in", _DEFAULT_EXPIRES_IN)
    lifetime = float(expires_in) if isinstance(expires_in, int | float) else _DEFAULT_EXPIRES_IN
    return AccessToken(token, monotonic() + max(0.0, lifetime - REFRESH_MARGIN_SECONDS))


def _within(seconds: float, build: Callable[[], Any]) -> Any:
    """Run `build` on a daemon thread and wait at most `seconds`; TimeoutError if it has not finished.

    A thread that hangs is abandoned (it is a daemon, so it never blocks shutdown).
    """
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(build())
        except BaseException as exc:  # handed to the waiting caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="zoomus-setup", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:.0f} s")
    if failure:
        raise failure[0]
    return outcome[0]


class ZoomApi:
    """Thread-safe access to one lazily built `ZoomClient`, with token refresh and retries."""

    def __init__(
        self,
        settings: ZoomConfig,
        app: ZoomApp,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._app = app
        self._monotonic = monotonic
        self._sleep = sleep
        self._now = now
        self._lock = threading.Lock()
        self._client: Any = None
        self._token: AccessToken | None = None

    def fetch_token(self) -> AccessToken:
        return fetch_token(self._settings, self._app, self._monotonic)

    def _ready_client(self) -> tuple[Any, AccessToken]:
        """The client with a token that is not about to expire (built or refreshed under the lock)."""
        with self._lock:
            if self._token is None or self._monotonic() >= self._token.refresh_at:
                self._install(self.fetch_token())
            assert self._token is not None
            return self._client, self._token

    def _install(self, token: AccessToken) -> None:
        if self._client is None:
            self._client = self._build_client()
        # All zoomus components share this one config dict.
        self._client.config["token"] = token.value
        self._token = token

    def _build_client(self) -> Any:
        settings, app = self._settings, self._app
        try:
            # Its own token fetch runs right after ours succeeded against the same endpoint, but
            # with no timeout of its own: bound it here so a hang cannot hold the lock for ever.
            client = _within(
                settings.timeout_seconds * 2,
                lambda: ZoomClient(
                    app.client_id,
                    app.client_secret,
                    app.account_id,
                    timeout=settings.timeout_seconds,
                    base_uri=settings.api_base_url,
                    oauth_uri=settings.token_url,
                ),
            )
        except (requests.RequestException, ValueError, TimeoutError) as exc:
            raise ProviderUnavailable(
                ZOOM, f"could not set up the Zoom client ({type(exc).__name__})"
            ) from exc
        # zoomus coerces timeouts with int(); never let 0.5 become 0 (no timeout at all).
        component_timeout = max(1, round(settings.timeout_seconds))
        for component in client.components.values():
            component.timeout = component_timeout
        return client

    def _refresh_after_rejection(self, rejected: AccessToken) -> None:
        with self._lock:
            # Another thread may already have replaced the token that was refused.
            if self._token is rejected:
                self._install(self.fetch_token())

    def call(self, operation: ZoomCall, *, idempotent: bool) -> requests.Response:
        """Run one zoomus call; return its 2xx response or raise the mapped ProviderError.

        Retryable failures are retried up to `max_retries` times. A read timeout is retried only
        for idempotent calls: a create that timed out may have happened.
        """
        refreshed = False
        attempt = 0
        while True:
            client, token = self._ready_client()
            try:
                response = operation(client)
            except requests.RequestException as exc:
                may_retry = idempotent or not isinstance(exc, requests.ReadTimeout)
                # A non-idempotent call that was sent and not answered may have been carried out.
                unknown = ProviderOutcomeUnknown if not may_retry else ProviderUnavailable
                error: ProviderError = unknown(ZOOM, f"Zoom API unreachable ({type(exc).__name__})")
            else:
                if response.status_code < 400:
                    return response
                if response.status_code == 401 and not refreshed:
                    refreshed = True
                    self._refresh_after_rejection(token)
                    continue
                error = error_from_response(response, self._now())
                may_retry = error.retryable
            if not may_retry or attempt >= self._settings.max_retries:
                raise error
            if isinstance(error, ProviderRateLimited) and error.daily_limit:
                raise error  # Nothing to gain before 00:00 UTC; never sleep on it.
            self._sleep(self._backoff(attempt, error))
            attempt += 1

    def _backoff(self, attempt: int, error: ProviderError) -> float:
        settings = self._settings
        wanted = settings.retry_base_delay_seconds * 2.0**attempt
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            wanted = error.retry_after
        return min(wanted, settings.max_retry_wait_seconds)
