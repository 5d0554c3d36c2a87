"""Fixtures: the Teams emulator over TLS (a CA generated per test session), adapter settings for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# service.config first: importing a plugin's config module first runs into the seam's import cycle
# (service.config -> registry -> plugin -> config, half-initialised).
import service.config  # noqa: F401
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
    base = datetime.now(UTC).replace(microsecond=0, second=0) - timedelta(days=1)
    return base + timedelta(seconds=round(minutes * 60))
