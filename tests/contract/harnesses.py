"""One harness per provider for the provider contract suite: its adapter pointed at its emulator,
and the levers the suite pulls on the emulator (faults, a played meeting, what the provider holds).

Every registered provider with an adapter must have a harness here (the suite checks it), so a
provider that lands runs the same contract as the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from integrations.base import MeetingProvider, MeetingRequest
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    ScriptPerson,
    Start,
    ZoomEmulatorConfig,
    ZoomUser,
    create_zoom_emulator,
    emulator_state,
)
from integrations.zoom.adapter import ZoomProvider
from integrations.zoom.config import ZoomConfig
from service.domain.meeting import Person, ProviderName

START = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
ORGANIZER = "alice@acme.example"


def contract_request(**changes: object) -> MeetingRequest:
    request = MeetingRequest(
        title="Contract check",
        agenda="What every provider must do",
        start=START,
        duration_minutes=30,
        timezone="Europe/Paris",
        organizer=Person(ORGANIZER, "Alice"),
        attendees=(Person("carol@customer.example", "Carol"),),
        idempotency_key="7d6f2b0e-0000-4000-8000-000000000001",
    )
    return replace(request, **changes)  # type: ignore[arg-type]


class ProviderHarness(ABC):
    name: ProviderName
    # Whether the provider's API itself makes a retried create return the first meeting (Graph's
    # createOrGet, Calendar's requestId). Zoom has no such key: salesmeet's external_ref claim is
    # what keeps a retried create from making a second meeting there.
    idempotent_create: bool

    @abstractmethod
    def adapter(self, *, wrong_secret: bool = False) -> MeetingProvider:
        """The real adapter against the emulator, with instant retries and small report pages."""

    @abstractmethod
    def meetings_held(self) -> int:
        """How many meetings the provider holds now."""

    @abstractmethod
    def title_held(self, provider_meeting_id: str) -> str | None:
        """The meeting's title as the provider holds it; None once it is deleted."""

    @abstractmethod
    def play(self, provider_meeting_id: str, participants: int) -> dict[str, int]:
        """Play the meeting to its end; the attended seconds of each participant, by e-mail."""

    @abstractmethod
    def fail_next(self, status: int, count: int) -> None:
        """The next `count` API calls answer `status` (429 with a short Retry-After, or a 5xx)."""

    @abstractmethod
    def clear_faults(self) -> None: ...

    @abstractmethod
    def unknown_meeting_id(self) -> str: ...

    @abstractmethod
    def rejected_request(self) -> MeetingRequest:
        """A request the provider refuses as invalid."""

    @abstractmethod
    def unlicensed_organizer(self) -> MeetingRequest:
        """A request for an organizer the provider does not know."""


class ZoomHarness(ProviderHarness):
    name = ProviderName.ZOOM
    idempotent_create = False

    def __init__(self) -> None:
        self._config = ZoomEmulatorConfig(users=(ZoomUser(ORGANIZER, "u_alice0001", "Alice", "Seller"),))
        self._app = create_zoom_emulator(self._config)
        self.state = emulator_state(self._app)
        self._server = serve_in_thread(self._app)

    def stop(self) -> None:
        self._server.stop()

    def adapter(self, *, wrong_secret: bool = False) -> MeetingProvider:
        section = ZoomConfig(
            enabled=True,
            account_id=self._config.account_id,
            client_id=self._config.client_id,
            token_url=f"{self._server.url}/oauth/token",
            api_base_url=f"{self._server.url}/v2",
            timeout_seconds=5,
            retry_base_delay_seconds=0,
            max_retry_wait_seconds=0.01,
            report_page_size=3,
        )
        secret = "not-the-secret" if wrong_secret else self._config.client_secret
        return ZoomProvider(section, secret, sleep=lambda _seconds: None)

    def meetings_held(self) -> int:
        return len(self.state.meetings)

    def title_held(self, provider_meeting_id: str) -> str | None:
        meeting = self.state.meeting(int(provider_meeting_id))
        return meeting.topic if meeting is not None else None

    def play(self, provider_meeting_id: str, participants: int) -> dict[str, int]:
        people = [ScriptPerson(f"Person {i}", f"p{i}@customer.example") for i in range(participants)]
        joins = [Join(START + timedelta(minutes=i), person) for i, person in enumerate(people)]
        leaves = [Leave(START + timedelta(minutes=20 + i), person) for i, person in enumerate(people)]
        script: list[Start | Join | Leave | End] = [
            Start(START),
            *joins,
            *leaves,
            End(START + timedelta(minutes=40)),
        ]
        truth = {person.email or "": 20 * 60 for person in people}
        MeetingPlayer(self.state).play(int(provider_meeting_id), script)
        return truth

    def fail_next(self, status: int, count: int) -> None:
        if status == 429:
            self.state.faults.rate_limit_next(count, retry_after="0")
        else:
            self.state.faults.fail_next(count, status)

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def unknown_meeting_id(self) -> str:
        return "99999999999"

    def rejected_request(self) -> MeetingRequest:
        return contract_request(title="x" * 201)  # Zoom's topic limit is 200

    def unlicensed_organizer(self) -> MeetingRequest:
        return contract_request(organizer=Person("stranger@acme.example"))


@contextmanager
def zoom_harness() -> Iterator[ProviderHarness]:
    harness = ZoomHarness()
    try:
        yield harness
    finally:
        harness.stop()


HARNESSES: dict[ProviderName, Callable[[], AbstractContextManager[ProviderHarness]]] = {
    ProviderName.ZOOM: zoom_harness,
}
