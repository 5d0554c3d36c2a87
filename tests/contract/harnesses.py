"""One harness per provider for the provider contract suite: its adapter pointed at its emulator,
and the levers the suite pulls on the emulator (faults, a played meeting, what the provider holds).

Every registered provider with an adapter must have a harness here (the suite checks it), so a
provider that lands runs the same contract as the others.
"""

from __future__ import annotations

import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from integrations.base import MeetingProvider, MeetingRequest
from integrations.meet.adapter import MeetProvider
from integrations.meet.config import MeetConfig
from integrations.sandbox import teams as teams_sandbox
from integrations.sandbox.meet import End as MeetEnd
from integrations.sandbox.meet import Join as MeetJoin
from integrations.sandbox.meet import Leave as MeetLeave
from integrations.sandbox.meet import (
    MeetEmulatorConfig,
    MeetEmulatorState,
    ServiceAccount,
    WorkspaceUser,
    create_meet_emulator,
)
from integrations.sandbox.meet import MeetingPlayer as MeetPlayer
from integrations.sandbox.meet import ScriptPerson as MeetPerson
from integrations.sandbox.meet import Start as MeetStart
from integrations.sandbox.meet import emulator_state as meet_emulator_state
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.zoom import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    ScriptPerson,
    Start,
    ZoomEmulatorConfig,
    ZoomRealism,
    ZoomUser,
    create_zoom_emulator,
    emulator_state,
)
from integrations.teams.adapter import TeamsProvider
from integrations.teams.config import TeamsConfig
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
        self._config = ZoomEmulatorConfig(
            users=(ZoomUser(ORGANIZER, "u_alice0001", "Alice", "Seller"),), realism=ZoomRealism.kind()
        )
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


class MeetHarness(ProviderHarness):
    """Calendar events with Meet conferences; attendance from Meet REST. The played participants
    are Workspace users, so the Directory gives their e-mails."""

    name = ProviderName.MEET
    idempotent_create = True  # the event id and the conference requestId derive from our meeting id
    participants = tuple(
        WorkspaceUser(f"p{i}@acme.example", str(200000000000000000000 + i)) for i in range(10)
    )

    def __init__(self) -> None:
        delegate = WorkspaceUser("meet-admin@acme.example", "100000000000000000099")
        organizer = WorkspaceUser(ORGANIZER, "100000000000000000001", "Alice Seller")
        self._config = MeetEmulatorConfig(users=(organizer, delegate, *self.participants))
        self._app = create_meet_emulator(self._config)
        self.state: MeetEmulatorState = meet_emulator_state(self._app)
        self._server = serve_in_thread(self._app)
        self._dir = tempfile.mkdtemp(prefix="salesmeet-meet-contract-")
        self._key_file = self._write_key("right.json", self._config.service_account)
        self._wrong_key_file = self._write_key("wrong.json", ServiceAccount.generate(name="stranger"))
        self._delegate = delegate.email

    def _write_key(self, name: str, account: ServiceAccount) -> str:
        path = Path(self._dir) / name
        path.write_text(account.key_file_json(f"{self._server.url}/token"), encoding="utf-8")
        return str(path)

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def adapter(self, *, wrong_secret: bool = False) -> MeetingProvider:
        url = self._server.url
        section = MeetConfig(
            enabled=True,
            delegated_user=self._delegate,
            calendar_api_url=f"{url}/calendar/v3/",
            meet_api_url=url,
            directory_api_url=url,
            token_url=f"{url}/token",
            workspace_events_url=f"{url}/v1",
            timeout_seconds=5,
            retry_base_delay_seconds=0,
            max_retry_wait_seconds=0.01,
            conference_poll_interval_seconds=0,
            page_size=3,
        )
        key_file = self._wrong_key_file if wrong_secret else self._key_file
        return MeetProvider(section, key_file, sleep=lambda _seconds: None)

    def meetings_held(self) -> int:
        return len(self.state.events)

    def title_held(self, provider_meeting_id: str) -> str | None:
        with self.state.lock:
            held = [
                event.summary
                for event in self.state.events.values()
                if event.conference is not None and event.conference.space.meeting_code == provider_meeting_id
            ]
        return held[0] if held else None

    def play(self, provider_meeting_id: str, participants: int) -> dict[str, int]:
        people = [
            MeetPerson(f"Person {i}", user_id=user.id, email=user.email)
            for i, user in enumerate(self.participants[:participants])
        ]
        joins = [MeetJoin(START + timedelta(minutes=i), person) for i, person in enumerate(people)]
        leaves = [MeetLeave(START + timedelta(minutes=20 + i), person) for i, person in enumerate(people)]
        script: list[MeetStart | MeetJoin | MeetLeave | MeetEnd] = [
            MeetStart(START),
            *joins,
            *leaves,
            MeetEnd(START + timedelta(minutes=40)),
        ]
        MeetPlayer(self.state).play(provider_meeting_id, script)
        return {person.email: 20 * 60 for person in people}

    def fail_next(self, status: int, count: int) -> None:
        if status == 429:
            self.state.faults.rate_limit_next(count)
        else:
            self.state.faults.fail_next(count, status)

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def unknown_meeting_id(self) -> str:
        return "zzz-zzzz-zzz"

    def rejected_request(self) -> MeetingRequest:
        return contract_request(attendees=(Person("not-an-email"),))  # Calendar: "Invalid attendee email."

    def unlicensed_organizer(self) -> MeetingRequest:
        return contract_request(organizer=Person("stranger@acme.example"))


@contextmanager
def meet_harness() -> Iterator[ProviderHarness]:
    harness = MeetHarness()
    try:
        yield harness
    finally:
        harness.stop()


class TeamsHarness(ProviderHarness):
    name = ProviderName.TEAMS
    idempotent_create = True  # createOrGet keyed by externalId

    def __init__(self) -> None:
        self._organizer = teams_sandbox.EntraUser(ORGANIZER, "a11ce000-0000-4000-8000-000000000001", "Alice")
        self._config = teams_sandbox.TeamsEmulatorConfig(users=(self._organizer,), page_size=3)
        self._certificates = teams_sandbox.generate_sandbox_certificates()
        app = teams_sandbox.create_teams_emulator(self._config)
        self.state = teams_sandbox.emulator_state(app)
        self._server = serve_in_thread(app, ssl=self._certificates.server)
        self._adapters: list[TeamsProvider] = []

    def stop(self) -> None:
        for adapter in self._adapters:
            adapter.close()
        self._server.stop()
        shutil.rmtree(self._certificates.ca_file.parent, ignore_errors=True)

    def adapter(self, *, wrong_secret: bool = False) -> MeetingProvider:
        section = TeamsConfig(
            enabled=True,
            tenant_id=self._config.tenant_id,
            client_id=self._config.client_id,
            authority_url=self._server.url,
            graph_base_url=f"{self._server.url}/v1.0",
            ca_bundle=self._certificates.ca_file,
            timeout_seconds=5,
            retry_base_delay_seconds=0,
            max_retry_wait_seconds=0.01,
        )
        secret = "not-the-secret" if wrong_secret else self._config.client_secret
        adapter = TeamsProvider(section, secret, sleep=lambda _seconds: None)
        self._adapters.append(adapter)
        return adapter

    def meetings_held(self) -> int:
        return len(self.state.meetings)

    def title_held(self, provider_meeting_id: str) -> str | None:
        meeting = self.state.meeting(provider_meeting_id.partition(":")[2])
        return meeting.subject if meeting is not None else None

    def play(self, provider_meeting_id: str, participants: int) -> dict[str, int]:
        kind = teams_sandbox.PersonKind.EXTERNAL_USER
        people = [
            teams_sandbox.ScriptPerson(
                f"Person {i}",
                kind,
                f"p{i}@customer.example",
                f"{i:08d}-0000-4000-8000-0000000000c0",
                "c0570000",
            )
            for i in range(participants)
        ]
        script: list[teams_sandbox.Step] = [
            teams_sandbox.Start(START),
            *(teams_sandbox.Join(START + timedelta(minutes=i), p) for i, p in enumerate(people)),
            *(teams_sandbox.Leave(START + timedelta(minutes=20 + i), p) for i, p in enumerate(people)),
            teams_sandbox.End(START + timedelta(minutes=40)),
        ]
        teams_sandbox.MeetingPlayer(self.state).play(provider_meeting_id.partition(":")[2], script)
        return {person.email or "": 20 * 60 for person in people}

    def fail_next(self, status: int, count: int) -> None:
        if status == 429:
            self.state.faults.rate_limit_next(count, retry_after="0")
        else:
            self.state.faults.fail_next(count, status)

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def unknown_meeting_id(self) -> str:
        return f"{self._organizer.id}:MSoxMjM0KjAqKjE5Om1lZXRpbmdfbm9uZUB0aHJlYWQudjI"

    def rejected_request(self) -> MeetingRequest:
        return contract_request(title="x" * 256)  # Graph's subject limit is 255

    def unlicensed_organizer(self) -> MeetingRequest:
        return contract_request(organizer=Person("stranger@acme.example"))


@contextmanager
def teams_harness() -> Iterator[ProviderHarness]:
    harness = TeamsHarness()
    try:
        yield harness
    finally:
        harness.stop()


HARNESSES: dict[ProviderName, Callable[[], AbstractContextManager[ProviderHarness]]] = {
    ProviderName.ZOOM: zoom_harness,
    ProviderName.TEAMS: teams_harness,
    ProviderName.MEET: meet_harness,
}
