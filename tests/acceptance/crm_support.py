"""What the CRM end-to-end tests share: the whole service on the sandbox (Zoom and one CRM on their
emulators) behind a manual clock, the worker driven by hand, and a meeting the customer attended."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from integrations.sandbox.clock import ManualClock
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom.config import ZoomEmulatorConfig
from integrations.sandbox.zoom.player import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    ScriptPerson,
    Start,
    Step,
    WebhookFaults,
)
from integrations.sandbox.zoom.state import ZoomEmulatorState
from integrations.sandbox.zoom.webhooks import WebhookSender
from service.api.app import create_app
from service.bootstrap import Runtime, build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.meeting import ProviderName
from service.storage.database import upgrade_database
from tests.helpers_signing import SANDBOX_SECRET
from tests.support import ADMIN_KEY, auth, sandbox_config

SCHEDULED = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
HOST = ScriptPerson("Hanna Host", "host@acme.example", "u_sandbox0000")
BOB = ScriptPerson("Bob Buyer", "bob@customer.example")


def at(minutes: float) -> datetime:
    return SCHEDULED + timedelta(seconds=round(minutes * 60))


# Bob attends 25 minutes of a meeting that ran 27.
HELD: Sequence[Step] = (
    Start(at(1)),
    Join(at(1), HOST),
    Join(at(2), BOB),
    Leave(at(27), BOB),
    Leave(at(28), HOST),
    End(at(28)),
)


@dataclasses.dataclass
class CrmService:
    """The running service with one CRM enabled; a CRM's test harness derives from it."""

    url: str
    public_url: str
    runtime: Runtime
    client: httpx.Client
    clock: ManualClock
    crm: str

    def base(self) -> dict[str, Any]:
        """This service's fields, to build a derived harness from (shallow, unlike `asdict`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(CrmService)}

    @property
    def zoom(self) -> ZoomEmulatorState:
        state = self.runtime.sandbox_handle(ProviderName.ZOOM)
        assert isinstance(state, ZoomEmulatorState)
        return state

    def work(self) -> None:
        """What the worker does: apply deliveries, attendance, reconciliation, write-back."""
        self.runtime.worker.drain()
        self.runtime.worker.run_periodic(force=True)
        self.runtime.worker.drain()

    def meetings(self) -> list[dict[str, Any]]:
        page = self.client.get("/v1/meetings", params={"external_system": self.crm}, headers=auth(ADMIN_KEY))
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    def play(self, meeting: dict[str, Any], script: Sequence[Step]) -> None:
        sender = WebhookSender(f"{self.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
        with sender:
            MeetingPlayer(self.zoom, sender, WebhookFaults()).play(
                int(meeting["provider_meeting_id"]), script
            )


@contextmanager
def running_crm_service(database_url: str, crm: str, section: Mapping[str, Any]) -> Iterator[CrmService]:
    """The service on the sandbox with `crm.<crm>` enabled in sandbox mode (plus `section`)."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    data: dict[str, Any] = sandbox_config()
    data["crm"] = {crm: {"enabled": True, "sandbox": True, **section}}
    settings = Settings(database_url=database_url).with_secrets({"zoom_webhook_secret_token": SANDBOX_SECRET})
    runtime = build_runtime(parse_config(data), settings, clock=clock)
    upgrade_database(runtime.db.engine)
    server = serve_in_thread(create_app(runtime), lifespan="on")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield CrmService(server.url, data["public_url"], runtime, client, clock, crm)
    finally:
        server.stop()
        runtime.close()
