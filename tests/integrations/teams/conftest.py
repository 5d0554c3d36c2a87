"""Fixtures: the Teams emulator over TLS (a CA generated per test session), adapter settings for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from integrations.plugin import Answer, Reject, WebhookRequest, WebhookVerdict
from integrations.sandbox.server import RunningServer, serve_in_thread
from integrations.sandbox.teams import (
    EntraUser,
    SandboxCertificates,
    TeamsEmulatorConfig,
    TeamsEmulatorState,
    create_teams_emulator,
    emulator_state,
    generate_sandbox_certificates,
)
from integrations.teams.config import TeamsConfig
from integrations.teams.webhook_check import TeamsWebhookCheck

HOST = EntraUser("alice@acme.example", "a11ce000-0000-4000-8000-000000000001", "Alice Seller")
OTHER_HOST = EntraUser("bob@acme.example", "b0b00000-0000-4000-8000-000000000002", "Bob Manager")
BASE_CONFIG = TeamsEmulatorConfig(
    tenant_id="acme0000-0000-4000-8000-00000000ac3e",
    client_id="c1e00000-0000-4000-8000-0000000000c1",
    client_secret="right-secret",
    users=(HOST, OTHER_HOST),
    notification_retry_delays=(0.0,),
)


@dataclass
class RunningTeams:
    server: RunningServer
    state: TeamsEmulatorState
    ca_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    def settings(self, **overrides: Any) -> TeamsConfig:
        config = self.state.config
        fields: dict[str, Any] = {
            "enabled": True,
            "sandbox": True,
            "tenant_id": config.tenant_id,
            "client_id": config.client_id,
            "authority_url": self.url,
            "graph_base_url": f"{self.url}/v1.0",
            "ca_bundle": self.ca_file,
            "timeout_seconds": 5,
            "retry_base_delay_seconds": 0.01,
        }
        fields.update(overrides)
        return TeamsConfig(**fields)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> SandboxCertificates:
    return generate_sandbox_certificates(tmp_path_factory.mktemp("teams-tls"))


@pytest.fixture
def start_teams(certificates: SandboxCertificates) -> Iterator[Callable[..., RunningTeams]]:
    servers: list[RunningServer] = []

    def start(**overrides: Any) -> RunningTeams:
        app = create_teams_emulator(replace(BASE_CONFIG, **overrides))
        server = serve_in_thread(app, ssl=certificates.server)
        servers.append(server)
        return RunningTeams(server, emulator_state(app), certificates.ca_file)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def teams(start_teams: Callable[..., RunningTeams]) -> RunningTeams:
    return start_teams()


def past(minutes: float) -> datetime:
    """A whole-second time `minutes` after a moment yesterday (call records are kept 30 days)."""
    return _YESTERDAY + timedelta(seconds=round(minutes * 60))


_YESTERDAY = datetime.now(UTC).replace(microsecond=0, second=0) - timedelta(days=1)


@dataclass
class CheckedReceiver:
    """A stand-in for the service's receiver: runs the Teams check on every POST, keeps what it
    accepts, answers what it answers."""

    check: TeamsWebhookCheck
    accepted: list[bytes] = field(default_factory=list)
    verdicts: list[WebhookVerdict] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/teams")
        async def webhook(request: Request) -> Response:
            body = await request.body()
            verdict = await self.check(
                WebhookRequest(body, dict(request.headers), request.scope.get("query_string", b""))
            )
            self.verdicts.append(verdict)
            if isinstance(verdict, Answer):
                return Response(verdict.body, status_code=verdict.status, media_type=verdict.content_type)
            if isinstance(verdict, Reject):
                return Response(verdict.message, status_code=verdict.status)
            self.accepted.append(body)
            return Response(status_code=verdict.status)

        return app


CLIENT_STATE = "state-5a1e-0001"


@pytest.fixture
def receiver() -> Iterator[CheckedReceiver]:
    hook = CheckedReceiver(TeamsWebhookCheck([CLIENT_STATE]))
    with serve_in_thread(hook.app()) as server:
        hook.url = f"{server.url}/webhooks/teams"
        yield hook
