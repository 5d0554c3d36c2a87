"""The Google emulator on a loopback port, with the section and key file an adapter needs for it.

Plain helpers (no conftest): `running_google()` is a context manager each test module wraps in
its own fixture.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.meet.config import MeetConfig
from integrations.sandbox.meet import (
    MeetEmulatorConfig,
    MeetEmulatorState,
    ServiceAccount,
    WorkspaceUser,
    create_meet_emulator,
    emulator_state,
)
from integrations.sandbox.server import RunningServer, serve_in_thread

HOST = WorkspaceUser("alice@acme.example", "100000000000000000011", "Alice Seller")
OTHER_HOST = WorkspaceUser("bob@acme.example", "100000000000000000022", "Bob Manager")
DELEGATE = WorkspaceUser("meet-admin@acme.example", "100000000000000000033", "Meet Admin")
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

# Key generation is slow-ish (RSA 2048): one account and one push key for the whole test run.
SERVICE_ACCOUNT = ServiceAccount.generate()
BASE_CONFIG = MeetEmulatorConfig(users=(HOST, OTHER_HOST, DELEGATE), service_account=SERVICE_ACCOUNT)


class RecordedSleeps(list[float]):
    """The retry loop's sleep seam: records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class RunningGoogle:
    server: RunningServer
    state: MeetEmulatorState
    key_file: str

    @property
    def url(self) -> str:
        return self.server.url

    def section(self, **overrides: Any) -> MeetConfig:
        fields: dict[str, Any] = {
            "enabled": True,
            "delegated_user": DELEGATE.email,
            "calendar_api_url": f"{self.url}/calendar/v3/",
            "meet_api_url": self.url,
            "directory_api_url": self.url,
            "token_url": f"{self.url}/token",
            "certs_url": f"{self.url}/oauth2/v1/certs",
            "workspace_events_url": f"{self.url}/v1",
            "pubsub_topic": self.state.config.pubsub_topic,
            "push_service_account": self.state.config.push_service_account,
            "timeout_seconds": 5,
            "conference_poll_interval_seconds": 0.01,
        }
        fields.update(overrides)
        return MeetConfig(**fields)


def write_key_file(directory: str, account: ServiceAccount, token_uri: str) -> str:
    path = Path(directory) / "service-account.json"
    path.write_text(account.key_file_json(token_uri), encoding="utf-8")
    return str(path)


@contextmanager
def running_google(**overrides: Any) -> Iterator[RunningGoogle]:
    app = create_meet_emulator(replace(BASE_CONFIG, **overrides))
    with serve_in_thread(app) as server, tempfile.TemporaryDirectory() as directory:
        state = emulator_state(app)
        key_file = write_key_file(directory, state.config.service_account, f"{server.url}/token")
        yield RunningGoogle(server, state, key_file)
