"""Fixtures: the Zoom emulator on a loopback port, adapter settings for it, a webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from integrations.sandbox.server import RunningServer, serve_in_thread
from integrations.sandbox.zoom import (
    ManualClock,
    ZoomEmulatorConfig,
    ZoomEmulatorState,
    ZoomRealism,
    ZoomUser,
    create_zoom_emulator,
    emulator_state,
)
from integrations.zoom.config import ZoomConfig

HOST = ZoomUser("alice@acme.example", "u_alice0001", "Alice", "Seller")
OTHER_HOST = ZoomUser("bob@acme.example", "u_bob000002", "Bob", "Manager")
BASE_CONFIG = ZoomEmulatorConfig(
    account_id="acct-1",
    client_id="cid-1",
    client_secret="right-secret",
    webhook_secret_token="whsec-1",
    users=(HOST, OTHER_HOST),
    # These tests are about the API and paging, so the emulator tells everyone's identity; the
    # real (unkind) behaviour has its own tests (test_zoom_realism.py).
    realism=ZoomRealism.kind(),
)


@dataclass
class RunningZoom:
    server: RunningServer
    state: ZoomEmulatorState

    @property
    def url(self) -> str:
        return self.server.url

    def adapter_settings(self, **overrides: Any) -> ZoomConfig:
        """`providers.zoom` pointed at this emulator, as the sandbox wiring makes it."""
        config = self.state.config
        section = ZoomConfig(
            enabled=True,
            account_id=config.account_id,
            client_id=config.client_id,
            token_url=f"{self.url}/oauth/token",
            api_base_url=f"{self.url}/v2",
            timeout_seconds=5,
        )
        return section.model_copy(update=overrides)

    @property
    def client_secret(self) -> str:
        return self.state.config.client_secret


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))


@pytest.fixture
def start_zoom() -> Iterator[Callable[..., RunningZoom]]:
    servers: list[RunningServer] = []

    def start(**overrides: Any) -> RunningZoom:
        app = create_zoom_emulator(replace(BASE_CONFIG, **overrides))
        server = serve_in_thread(app)
        servers.append(server)
        return RunningZoom(server, emulator_state(app))

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def zoom(start_zoom: Callable[..., RunningZoom]) -> RunningZoom:
    return start_zoom()


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed = json.loads(self.body)
        assert isinstance(parsed, dict)
        return parsed


@dataclass
class WebhookReceiver:
    """A stand-in webhook endpoint: records every POST, answers with scripted statuses."""

    secret_token: str
    received: list[ReceivedWebhook] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/zoom")
        async def webhook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append(ReceivedWebhook(dict(request.headers), body))
                status = self.statuses.pop(0) if self.statuses else 200
            document = json.loads(body)
            if document.get("event") == "endpoint.url_validation":
                plain = document["payload"]["plainToken"]
                digest = hmac.new(self.secret_token.encode(), plain.encode(), hashlib.sha256).hexdigest()
                return Response(
                    json.dumps({"plainToken": plain, "encryptedToken": digest}), media_type="application/json"
                )
            return Response(status_code=status)

        return app


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(secret_token=BASE_CONFIG.webhook_secret_token)
    with serve_in_thread(hook.app()) as server:
        hook.url = f"{server.url}/webhooks/zoom"
        yield hook
