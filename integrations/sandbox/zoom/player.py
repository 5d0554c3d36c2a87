"""The meeting player: plays a scripted meeting in simulated time against the emulator.

A script is a list of steps with explicit datetimes (start, joins, leaves, rejoins, second
devices, end). Playing it records the ground truth into the emulator state (so the reports serve
it) and sends the matching Zoom webhooks in one burst, with the script's times in the payloads.
Webhook faults (drop, duplicate, shuffle, late delivery) come from a seeded generator, so the
same seed gives the same deliveries.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from integrations.sandbox.zoom.state import (
    EmulatedMeeting,
    MeetingInstance,
    ParticipantSession,
    ZoomEmulatorState,
)
from integrations.sandbox.zoom.webhooks import DeliveryResult, WebhookEvent, WebhookSender, event_ts_ms
from integrations.sandbox.zoom.wire import zoom_time
from service.domain.meeting import require_utc

HOST_ENDED_REASON = "left the meeting. Reason : Host ended the meeting."


@dataclass(frozen=True)
class ScriptPerson:
    """Someone in a played meeting. No email means a guest or phone user (Zoom sends "")."""

    name: str
    email: str = ""
    zoom_user_id: str = ""


@dataclass(frozen=True)
class Start:
    at: datetime


@dataclass(frozen=True)
class Join:
    at: datetime
    who: ScriptPerson
    device: str = "desktop"


@dataclass(frozen=True)
class Leave:
    at: datetime
    who: ScriptPerson
    device: str = "desktop"
    reason: str = "left the meeting"


@dataclass(frozen=True)
class End:
    at: datetime


@dataclass(frozen=True)
class Wait:
    """`who` enters the waiting room; their next Join (same device) is when the host admits them."""

    at: datetime
    who: ScriptPerson
    device: str = "desktop"


Step = Start | Join | Leave | End | Wait


class ScriptError(ValueError):
    """The script cannot have happened (leave without join, steps out of time order...)."""


@dataclass(frozen=True)
class WebhookFaults:
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    late_rate: float = 0.0  # share of events moved to the end of the burst
    shuffle: bool = False
    seed: int = 0


@dataclass(frozen=True)
class TruthSession:
    joined_at: datetime
    left_at: datetime
    device: str


@dataclass(frozen=True)
class PlaySummary:
    meeting_id: int
    instance_uuid: str
    events: tuple[WebhookEvent, ...]  # every event, in the order things happened
    sent: tuple[WebhookEvent, ...]  # what was posted, in posting order (duplicates included)
    dropped: tuple[WebhookEvent, ...]  # removed by fault injection or after the last retry
    deliveries: tuple[DeliveryResult, ...]
    # Per participant key (see _participant_key): the sessions as they truly happened.
    ground_truth: dict[str, tuple[TruthSession, ...]] = field(default_factory=dict)
    # Per participant key: seconds spent in the waiting room.
    waiting_truth: dict[str, int] = field(default_factory=dict)


def _participant_key(session: ParticipantSession, instance_uuid: str, first_user_id: str) -> str:
    """Who someone truly is: e-mail, else the Zoom account id, else their first per-meeting id within
    its instance (Zoom restarts that numbering in every instance, and may renumber on every rejoin,
    so it only names someone together with the instance and their first join)."""
    if session.email.strip():
        return session.email.strip().lower()
    if session.zoom_user_id:
        return f"id:{session.zoom_user_id}"
    return f"id:{instance_uuid}#{first_user_id}"


class MeetingPlayer:
    def __init__(
        self,
        state: ZoomEmulatorState,
        sender: WebhookSender | None = None,
        faults: WebhookFaults | None = None,
    ) -> None:
        self._state = state
        self._sender = sender
        self._faults = faults or WebhookFaults()

    def play(self, meeting_id: int, script: Sequence[Step], instance_uuid: str | None = None) -> PlaySummary:
        meeting = self._state.meeting(meeting_id)
        if meeting is None:
            raise ScriptError(f"no meeting {meeting_id} in the emulator")
        rng = random.Random(self._faults.seed)  # noqa: S311 - reproducible fault plan, not security
        instance, events = self._record(meeting, script, instance_uuid, rng)
        plan, dropped = self._plan(events, rng)
        deliveries: list[DeliveryResult] = []
        if self._sender is not None:
            deliveries = [self._sender.deliver(event) for event in plan]
            dropped += [d.event for d in deliveries if not d.delivered]
        truth: dict[str, list[TruthSession]] = {}
        waiting: dict[str, int] = {}
        first_ids: dict[tuple[str, str, str], str] = {}
        for session in instance.sessions:
            person = (session.name, session.email, session.zoom_user_id)
            key = _participant_key(
                session, instance.uuid, first_ids.setdefault(person, session.participant_user_id)
            )
            left_at = session.left_at or instance.ended_at or session.joined_at
            if session.in_waiting_room:
                waiting[key] = waiting.get(key, 0) + int((left_at - session.joined_at).total_seconds())
                continue
            truth.setdefault(key, []).append(TruthSession(session.joined_at, left_at, session.device))
        return PlaySummary(
            meeting_id=meeting.id,
            instance_uuid=instance.uuid,
            events=tuple(events),
            sent=tuple(plan) if self._sender is not None else (),
            dropped=tuple(dropped),
            deliveries=tuple(deliveries),
            ground_truth={key: tuple(sessions) for key, sessions in truth.items()},
            waiting_truth=waiting,
        )

    def _record(
        self, meeting: EmulatedMeeting, script: Sequence[Step], instance_uuid: str | None, rng: random.Random
    ) -> tuple[MeetingInstance, list[WebhookEvent]]:
        """Check the script, write the instance into the state, and build the true event stream."""
        if not script or not isinstance(script[0], Start):
            raise ScriptError("a script begins with Start")
        times = [require_utc(step.at) for step in script]
        if times != sorted(times):
            raise ScriptError("script steps must be in time order")
        if any(isinstance(step, Start) for step in script[1:]):
            raise ScriptError("a script has one Start")
        if any(isinstance(step, End) for step in script[:-1]):
            raise ScriptError("End must be the last step")
        uuid = instance_uuid or (meeting.uuid if not meeting.instances else self._state.new_uuid())
        instance = MeetingInstance(uuid=uuid, meeting_id=meeting.id, started_at=times[0])
        open_sessions: dict[tuple[ScriptPerson, str], ParticipantSession] = {}
        waiting_sessions: dict[tuple[ScriptPerson, str], ParticipantSession] = {}
        ids: dict[tuple[ScriptPerson, str], tuple[str, str]] = {}
        issued = 0
        events: list[WebhookEvent] = [
            self._event(meeting, instance, "meeting.started", at=times[0], extra={}, rng=rng)
        ]
        for step, at in zip(script[1:], times[1:], strict=True):
            if isinstance(step, Wait):
                slot = (step.who, step.device)
                if slot in open_sessions or slot in waiting_sessions:
                    raise ScriptError(f"{step.who.name} ({step.device}) is already inside or waiting")
                issued += 1
                waiter = ParticipantSession(
                    str(16778240 + 1024 * (len(ids) + issued + 1000)),
                    f"{rng.getrandbits(128):032X}",
                    step.who.zoom_user_id,
                    step.who.name,
                    step.who.email,
                    step.device,
                    at,
                    in_waiting_room=True,
                )
                waiting_sessions[slot] = waiter
                instance.sessions.append(waiter)
                events.append(
                    self._participant_event(
                        meeting,
                        instance,
                        "joined_waiting_room",
                        session=waiter,
                        at=at,
                        leave_reason="",
                        rng=rng,
                    )
                )
                continue
            if isinstance(step, Join):
                slot = (step.who, step.device)
                if slot in open_sessions:
                    raise ScriptError(f"{step.who.name} ({step.device}) joined twice without leaving")
                admitted = waiting_sessions.pop(slot, None)
                if admitted is not None:
                    admitted.left_at = at
                    events.append(
                        self._participant_event(
                            meeting,
                            instance,
                            "left_waiting_room",
                            session=admitted,
                            at=at,
                            leave_reason="",
                            rng=rng,
                        )
                    )
                if slot not in ids or self._state.realism.new_ids_on_rejoin:
                    # Zoom numbers participants afresh in every instance of a meeting, and gives a
                    # guest a new id on every rejoin.
                    issued += 1
                    ids[slot] = (str(16778240 + 1024 * issued), f"{rng.getrandbits(128):032X}")
                user_id, participant_uuid = ids[slot]
                session = ParticipantSession(
                    user_id,
                    participant_uuid,
                    step.who.zoom_user_id,
                    step.who.name,
                    step.who.email,
                    step.device,
                    at,
                )
                open_sessions[slot] = session
                instance.sessions.append(session)
                events.append(
                    self._participant_event(
                        meeting, instance, "joined", session=session, at=at, leave_reason="", rng=rng
                    )
                )
            elif isinstance(step, Leave):
                opened = open_sessions.pop((step.who, step.device), None)
                if opened is None:
                    raise ScriptError(f"{step.who.name} ({step.device}) left without joining")
                opened.left_at = at
                events.append(
                    self._participant_event(
                        meeting, instance, "left", session=opened, at=at, leave_reason=step.reason, rng=rng
                    )
                )
            elif isinstance(step, End):
                for waiter in waiting_sessions.values():
                    waiter.left_at = at
                    events.append(
                        self._participant_event(
                            meeting,
                            instance,
                            "left_waiting_room",
                            session=waiter,
                            at=at,
                            leave_reason="",
                            rng=rng,
                        )
                    )
                waiting_sessions.clear()
                # Zoom tells of everyone still inside leaving, then of the meeting ending.
                for remaining in open_sessions.values():
                    remaining.left_at = at
                    events.append(
                        self._participant_event(
                            meeting,
                            instance,
                            "left",
                            session=remaining,
                            at=at,
                            leave_reason=HOST_ENDED_REASON,
                            rng=rng,
                        )
                    )
                open_sessions.clear()
                instance.ended_at = at
                events.append(
                    self._event(
                        meeting, instance, "meeting.ended", at=at, extra={"end_time": zoom_time(at)}, rng=rng
                    )
                )
        with self._state.lock:
            meeting.instances.append(instance)
        return instance, events

    def _plan(
        self, events: list[WebhookEvent], rng: random.Random
    ) -> tuple[list[WebhookEvent], list[WebhookEvent]]:
        """Apply the webhook faults: which events are posted, in which order, and which are lost."""
        faults = self._faults
        plan: list[WebhookEvent] = []
        dropped: list[WebhookEvent] = []
        for event in events:
            if rng.random() < faults.drop_rate:
                dropped.append(event)
                continue
            plan.append(event)
            if rng.random() < faults.duplicate_rate:
                plan.append(event)
        if faults.shuffle:
            rng.shuffle(plan)
        late = [event for event in plan if rng.random() < faults.late_rate]
        on_time = list(plan)
        for event in late:
            on_time.remove(event)
        return on_time + late, dropped

    def _event(
        self,
        meeting: EmulatedMeeting,
        instance: MeetingInstance,
        name: str,
        *,
        at: datetime,
        extra: dict[str, Any],
        rng: random.Random,
    ) -> WebhookEvent:
        meeting_object: dict[str, Any] = {
            # A string in webhooks, a number in the REST API.
            "id": str(meeting.id),
            "uuid": instance.uuid,
            "host_id": meeting.host.id,
            "topic": meeting.topic,
            "type": meeting.type,
            "start_time": zoom_time(instance.started_at),
            "timezone": meeting.timezone,
            "duration": meeting.duration,
            **extra,
        }
        payload = {"account_id": self._state.config.account_id, "object": meeting_object}
        return WebhookEvent(name, event_ts_ms(at), payload, tracking_id=f"{rng.getrandbits(128):032x}")

    def _participant_event(
        self,
        meeting: EmulatedMeeting,
        instance: MeetingInstance,
        kind: str,
        *,
        session: ParticipantSession,
        at: datetime,
        leave_reason: str,
        rng: random.Random,
    ) -> WebhookEvent:
        shown = self._state.visible(meeting, session)
        participant: dict[str, Any] = {
            "user_id": session.participant_user_id,
            "user_name": session.name,
            "id": shown.zoom_user_id,
            "participant_uuid": session.participant_uuid,
            "email": shown.email,
            "registrant_id": shown.registrant_id,
            "participant_user_id": shown.zoom_user_id,
            "customer_key": "",
            "phone_number": "",
        }
        if kind.endswith("waiting_room"):
            participant["date_time"] = zoom_time(at)
        elif kind == "joined":
            participant["join_time"] = zoom_time(at)
        else:
            participant["leave_time"] = zoom_time(at)
            participant["leave_reason"] = leave_reason
        return self._event(
            meeting,
            instance,
            f"meeting.participant_{kind}",
            at=at,
            extra={"participant": participant},
            rng=rng,
        )
