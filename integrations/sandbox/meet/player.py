"""The meeting player: plays a scripted Meet conference in simulated time against the emulator.

A script is a list of steps with explicit datetimes (start, joins, leaves, rejoins, second devices,
end). Playing it records the conference record, its participants and their sessions into the
emulator (so the Meet REST API serves them), then pushes the matching Workspace Events through
Pub/Sub to the subscriptions that cover the space (on the space or on its owner). Push faults
(drop, duplicate, shuffle) come from a seeded generator, so the same seed gives the same pushes.

Participants as Meet has them: a signed-in user is one participant per conference, with one
session per join (two devices are two overlapping sessions); an anonymous guest or a phone caller
is one participant per person here (Meet cannot tell a rejoining guest, the emulator simplifies).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from integrations.sandbox.meet.pushes import PushMessage, PushResult, PushSender
from integrations.sandbox.meet.state import (
    ConferenceRecord,
    MeetEmulatorState,
    ParticipantRecord,
    SessionRecord,
    Space,
)
from service.domain.meeting import require_utc

EVENT_PREFIX = "google.workspace.meet."
CONFERENCE_STARTED = EVENT_PREFIX + "conference.v2.started"
CONFERENCE_ENDED = EVENT_PREFIX + "conference.v2.ended"
PARTICIPANT_JOINED = EVENT_PREFIX + "participant.v2.joined"
PARTICIPANT_LEFT = EVENT_PREFIX + "participant.v2.left"


class PersonKind(StrEnum):
    SIGNED_IN = "signedinUser"
    ANONYMOUS = "anonymousUser"
    PHONE = "phoneUser"


@dataclass(frozen=True)
class ScriptPerson:
    """Someone in a played conference. A signed-in person has a Google user id (`users/{id}` in
    Meet); `email` is only the ground truth's name for them (Meet never shows it)."""

    name: str
    kind: PersonKind = PersonKind.SIGNED_IN
    user_id: str = ""
    email: str = ""


@dataclass(frozen=True)
class Start:
    at: datetime


@dataclass(frozen=True)
class Join:
    at: datetime
    who: ScriptPerson
    device: str = "laptop"


@dataclass(frozen=True)
class Leave:
    at: datetime
    who: ScriptPerson
    device: str = "laptop"


@dataclass(frozen=True)
class End:
    at: datetime


Step = Start | Join | Leave | End


class ScriptError(ValueError):
    """The script cannot have happened (leave without join, steps out of time order...)."""


@dataclass(frozen=True)
class PushFaults:
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0  # a redelivery of the same message (same messageId)
    shuffle: bool = False
    seed: int = 0


@dataclass(frozen=True)
class TruthSession:
    joined_at: datetime
    left_at: datetime
    device: str


@dataclass(frozen=True)
class PlaySummary:
    record_name: str
    meeting_code: str
    messages: tuple[PushMessage, ...]  # every event, in the order things happened
    sent: tuple[PushMessage, ...]  # what was pushed, in order (duplicates included)
    dropped: tuple[PushMessage, ...]  # lost to fault injection or never acked
    unsubscribed: tuple[PushMessage, ...]  # no subscription covered them, so Google sent nothing
    results: tuple[PushResult, ...]
    # Per participant key (e-mail, else "id:<provider participant id>"): the true sessions.
    ground_truth: dict[str, tuple[TruthSession, ...]] = field(default_factory=dict)


def truth_key(person: ScriptPerson, participant_name: str) -> str:
    """How salesmeet should name this person: a domain e-mail, an external user id, else the
    participant (guests and phones have nothing else)."""
    if person.email:
        return person.email.lower()
    if person.kind is PersonKind.SIGNED_IN:
        return f"id:users/{person.user_id}"
    return f"id:{participant_name}"


class MeetingPlayer:
    def __init__(
        self, state: MeetEmulatorState, sender: PushSender | None = None, faults: PushFaults | None = None
    ) -> None:
        self._state = state
        self._sender = sender
        self._faults = faults or PushFaults()

    def play(self, meeting_code: str, script: Sequence[Step]) -> PlaySummary:
        space = self._state.space_for_code(meeting_code)
        if space is None:
            raise ScriptError(f"no space with meeting code {meeting_code} in the emulator")
        rng = random.Random(self._faults.seed)  # noqa: S311 - reproducible fault plan, not security
        record, messages, people = self._record(space, script)
        covered = [m for m in messages if self._state.subscribed(space, m.event_type)]
        unsubscribed = [m for m in messages if m not in covered]
        plan, dropped = self._plan(covered, rng)
        results: list[PushResult] = []
        if self._sender is not None:
            results = [self._sender.deliver(message, message.time) for message in plan]
            dropped += [r.message for r in results if not r.acked]
        truth: dict[str, list[TruthSession]] = {}
        for participant in record.participants:
            person, devices = people[participant.id]
            key = truth_key(person, f"{record.name}/participants/{participant.id}")
            for session in participant.sessions:
                left_at = session.end_time or record.end_time or session.start_time
                truth.setdefault(key, []).append(
                    TruthSession(session.start_time, left_at, devices[session.id])
                )
        return PlaySummary(
            record_name=record.name,
            meeting_code=meeting_code,
            messages=tuple(messages),
            sent=tuple(plan) if self._sender is not None else (),
            dropped=tuple(dropped),
            unsubscribed=tuple(unsubscribed),
            results=tuple(results),
            ground_truth={key: tuple(sessions) for key, sessions in truth.items()},
        )

    def _record(
        self, space: Space, script: Sequence[Step]
    ) -> tuple[ConferenceRecord, list[PushMessage], dict[str, tuple[ScriptPerson, dict[str, str]]]]:
        """Check the script, write the conference into the state, and build the true event stream."""
        if not script or not isinstance(script[0], Start):
            raise ScriptError("a script begins with Start")
        times = [require_utc(step.at) for step in script]
        if times != sorted(times):
            raise ScriptError("script steps must be in time order")
        if any(isinstance(step, Start) for step in script[1:]) or any(
            isinstance(s, End) for s in script[:-1]
        ):
            raise ScriptError("a script has one Start, first, and End only last")
        state = self._state
        record = ConferenceRecord(state.new_id(), space, times[0])
        source = f"//meet.googleapis.com/{space.name}"
        messages = [
            self._message(CONFERENCE_STARTED, source, {"conferenceRecord": {"name": record.name}}, times[0])
        ]
        participants: dict[ScriptPerson, ParticipantRecord] = {}
        people: dict[str, tuple[ScriptPerson, dict[str, str]]] = {}
        open_sessions: dict[tuple[ScriptPerson, str], tuple[ParticipantRecord, SessionRecord]] = {}

        def session_message(
            kind: str, participant: ParticipantRecord, session: SessionRecord, at: datetime
        ) -> None:
            name = f"{record.name}/participants/{participant.id}/participantSessions/{session.id}"
            messages.append(self._message(kind, source, {"participantSession": {"name": name}}, at))

        for step, at in zip(script[1:], times[1:], strict=True):
            if isinstance(step, Join):
                slot = (step.who, step.device)
                if slot in open_sessions:
                    raise ScriptError(f"{step.who.name} ({step.device}) joined twice without leaving")
                participant = participants.get(step.who)
                if participant is None:
                    participant = ParticipantRecord(
                        state.new_id(),
                        step.who.kind.value,
                        step.who.name,
                        f"users/{step.who.user_id}" if step.who.kind is PersonKind.SIGNED_IN else None,
                    )
                    participants[step.who] = participant
                    record.participants.append(participant)
                    people[participant.id] = (step.who, {})
                session = SessionRecord(state.new_id(), at)
                participant.sessions.append(session)
                people[participant.id][1][session.id] = step.device
                open_sessions[slot] = (participant, session)
                session_message(PARTICIPANT_JOINED, participant, session, at)
            elif isinstance(step, Leave):
                opened = open_sessions.pop((step.who, step.device), None)
                if opened is None:
                    raise ScriptError(f"{step.who.name} ({step.device}) left without joining")
                opened[1].end_time = at
                session_message(PARTICIPANT_LEFT, *opened, at)
            elif isinstance(step, End):
                for participant, session in open_sessions.values():
                    session.end_time = at
                    session_message(PARTICIPANT_LEFT, participant, session, at)
                open_sessions.clear()
                record.end_time = at
                messages.append(
                    self._message(CONFERENCE_ENDED, source, {"conferenceRecord": {"name": record.name}}, at)
                )
        with state.lock:
            state.records[record.id] = record
        return record, messages, people

    def _message(self, event_type: str, source: str, data: dict[str, object], at: datetime) -> PushMessage:
        return PushMessage(event_type, source, source.removeprefix("//meet.googleapis.com/"), dict(data), at)

    def _plan(
        self, messages: list[PushMessage], rng: random.Random
    ) -> tuple[list[PushMessage], list[PushMessage]]:
        faults = self._faults
        plan: list[PushMessage] = []
        dropped: list[PushMessage] = []
        for message in messages:
            if rng.random() < faults.drop_rate:
                dropped.append(message)
                continue
            plan.append(message)
            if rng.random() < faults.duplicate_rate:
                plan.append(message)
        if faults.shuffle:
            rng.shuffle(plan)
        return plan, dropped
