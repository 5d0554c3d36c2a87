"""Each provider's emulator plays what happened in a meeting (`plan.Happened`) and sends what the
real provider sends: Zoom signed webhooks, Graph call record notifications, Workspace Events
pushes, each with a little loss and duplication, so reconciliation has something to repair.

A customer who signs in shows up as the provider shows such a person: with an e-mail on Zoom, as
another tenant's user on Teams, as a Google account outside the Directory on Meet (no e-mail);
one who joins as a guest shows up with the typed name only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from integrations.sandbox.meet import player as meet
from integrations.sandbox.meet.pushes import PushSender
from integrations.sandbox.meet.state import MeetEmulatorState
from integrations.sandbox.teams import player as teams
from integrations.sandbox.teams.notifications import NotificationFaults, NotificationSender
from integrations.sandbox.teams.state import TeamsEmulatorState
from integrations.sandbox.zoom import player as zoom
from integrations.sandbox.zoom.state import ZoomEmulatorState
from integrations.sandbox.zoom.webhooks import WebhookSender
from sandbox_demo.org import Person
from sandbox_demo.plan import Happened

# A realistic, lossy delivery: reconciliation from the provider's reports repairs what is lost.
DROP_RATE = 0.03
DUPLICATE_RATE = 0.05


def _steps(
    happened: Happened,
    start: Callable[[datetime], Any],
    join: Callable[[datetime, Person, str], Any],
    leave: Callable[[datetime, Person, str], Any],
    end: Callable[[datetime], Any],
) -> list[Any]:
    """Start, every join and leave in time order (leaves before joins at one instant), End.
    Sessions lasting to the end need no leave: the provider closes them when the meeting ends."""
    moments: list[tuple[datetime, int, Any]] = []
    for session in happened.sessions:
        moments.append((session.joined_at, 1, join(session.joined_at, session.who, session.device)))
        if session.left_at < happened.ended_at:
            moments.append((session.left_at, 0, leave(session.left_at, session.who, session.device)))
    moments.sort(key=lambda m: (m[0], m[1]))
    return [start(happened.started_at), *(step for _, _, step in moments), end(happened.ended_at)]


def _external_id(person: Person, digits: int = 0) -> str:
    digest = hashlib.sha256(person.email.encode()).hexdigest()
    return str(int(digest, 16))[:digits] if digits else str(uuid.UUID(digest[:32]))


class ZoomStage:
    def __init__(self, state: ZoomEmulatorState) -> None:
        self._state = state
        self._sender = WebhookSender.for_config(state.config)

    def _person(self, person: Person) -> zoom.ScriptPerson:
        if person.internal:
            user = self._state.config.user_by_ref(person.email)
            return zoom.ScriptPerson(person.name, person.email, user.id if user else "")
        return zoom.ScriptPerson(person.name, person.email if person.signs_in else "")

    def play(self, provider_meeting_id: str, happened: Happened, seed: int) -> None:
        script: Sequence[zoom.Step] = _steps(
            happened,
            zoom.Start,
            lambda at, who, device: zoom.Join(at, self._person(who), device),
            lambda at, who, device: zoom.Leave(at, self._person(who), device),
            zoom.End,
        )
        faults = zoom.WebhookFaults(drop_rate=DROP_RATE, duplicate_rate=DUPLICATE_RATE, seed=seed)
        zoom.MeetingPlayer(self._state, self._sender, faults).play(int(provider_meeting_id), script)

    def close(self) -> None:
        self._sender.close()


class TeamsStage:
    def __init__(self, state: TeamsEmulatorState) -> None:
        self._state = state
        self._sender = NotificationSender(state.config)

    def _person(self, person: Person) -> teams.ScriptPerson:
        if person.internal:
            user = self._state.config.user(person.email)
            object_id = user.id if user else _external_id(person)
            return teams.ScriptPerson(person.name, teams.PersonKind.TENANT_USER, person.email, object_id)
        if not person.signs_in:
            return teams.ScriptPerson(person.name, teams.PersonKind.GUEST)
        tenant = str(uuid.uuid5(uuid.NAMESPACE_DNS, person.email.partition("@")[2]))
        return teams.ScriptPerson(
            person.name, teams.PersonKind.EXTERNAL_USER, person.email, _external_id(person), tenant
        )

    def play(self, provider_meeting_id: str, happened: Happened, seed: int) -> None:
        script: Sequence[teams.Step] = _steps(
            happened,
            teams.Start,
            lambda at, who, device: teams.Join(at, self._person(who), device),
            lambda at, who, device: teams.Leave(at, self._person(who), device),
            teams.End,
        )
        faults = NotificationFaults(drop_rate=DROP_RATE, duplicate_rate=DUPLICATE_RATE, seed=seed)
        online_meeting_id = provider_meeting_id.partition(":")[2]
        teams.MeetingPlayer(self._state, self._sender, faults).play(online_meeting_id, script, updates=1)

    def close(self) -> None:
        self._sender.close()


class MeetStage:
    def __init__(self, state: MeetEmulatorState) -> None:
        self._state = state
        config = state.config
        self._sender = PushSender(
            config.push_target_url or "",
            config.push_signing_key,
            audience=config.push_audience or "",
            service_account=config.push_service_account,
            subscription=config.pubsub_subscription,
        )

    def _person(self, person: Person) -> meet.ScriptPerson:
        if person.internal:
            user = self._state.config.user_by_email(person.email)
            user_id = user.id if user else _external_id(person, 21)
            return meet.ScriptPerson(person.name, user_id=user_id, email=person.email)
        if not person.signs_in:
            return meet.ScriptPerson(person.name, kind=meet.PersonKind.ANONYMOUS)
        return meet.ScriptPerson(person.name, user_id=_external_id(person, 21))

    def play(self, provider_meeting_id: str, happened: Happened, seed: int) -> None:
        script: Sequence[meet.Step] = _steps(
            happened,
            meet.Start,
            lambda at, who, device: meet.Join(at, self._person(who), _meet_device(device)),
            lambda at, who, device: meet.Leave(at, self._person(who), _meet_device(device)),
            meet.End,
        )
        faults = meet.PushFaults(drop_rate=DROP_RATE, duplicate_rate=DUPLICATE_RATE, seed=seed)
        meet.MeetingPlayer(self._state, self._sender, faults).play(provider_meeting_id, script)

    def close(self) -> None:
        self._sender.close()


def _meet_device(device: str) -> str:
    return "laptop" if device == "desktop" else device


Stage = ZoomStage | TeamsStage | MeetStage


def stage_for(provider: str, handle: object) -> Stage:
    """The player of `provider` over its running emulator's state (`Runtime.sandbox_handle`)."""
    if provider == "zoom" and isinstance(handle, ZoomEmulatorState):
        return ZoomStage(handle)
    if provider == "teams" and isinstance(handle, TeamsEmulatorState):
        return TeamsStage(handle)
    if provider == "meet" and isinstance(handle, MeetEmulatorState):
        return MeetStage(handle)
    raise LookupError(f"no demo player for provider {provider!r} ({type(handle).__name__})")
