"""Zoom deliveries for inbox and worker tests: bodies built by the emulator's player, signed like Zoom's.

The player writes the ground truth into an offline emulator state and returns the exact webhook
bodies Zoom would send, so tests get real payloads (and the truth to check against) without a
network round trip. `signed_headers` signs a body the way Zoom does, with the sandbox secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from integrations.sandbox.zoom import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    ScriptPerson,
    Start,
    TruthSession,
    ZoomEmulatorConfig,
    ZoomEmulatorState,
    ZoomRealism,
    ZoomUser,
    zoom_signature,
)
from integrations.sandbox.zoom.player import Step
from integrations.zoom.webhook import delivery_key
from service.storage.inbox_repo import Delivery

SANDBOX_SECRET = ZoomEmulatorConfig().webhook_secret_token
HOST = ZoomUser("host@acme.example", "u_host0001", "Hanna", "Host")


def signed_headers(body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": zoom_signature(SANDBOX_SECRET, timestamp, body),
    }


def zoom_delivery(body: bytes) -> Delivery:
    """The inbox row the receiver would store for this body."""
    headers = signed_headers(body)
    kept = {k: v for k, v in headers.items() if k.startswith("x-zm-")}
    return Delivery("zoom", delivery_key(body), body, kept)


@dataclass(frozen=True)
class PlayedMeeting:
    meeting_id: int
    bodies: tuple[bytes, ...]  # one per webhook, in the order things happened
    # Expected attended seconds per participant key (e-mail, or "id:<user id>" for guests).
    attended_seconds: dict[str, int]


class OfflineZoom:
    """An emulator state with no server: enough for the player to build real webhook bodies."""

    def __init__(self, seed: int = 0) -> None:
        self.state = ZoomEmulatorState(
            ZoomEmulatorConfig(users=(HOST,), seed=seed, realism=ZoomRealism.kind())
        )

    def add_meeting(self, topic: str, start: datetime) -> int:
        return self.state.add_meeting(HOST, topic=topic, start_time=start, password="00000000").id

    def play(self, topic: str, start: datetime, script: list[Step]) -> PlayedMeeting:
        meeting_id = self.add_meeting(topic, start)
        summary = MeetingPlayer(self.state).play(meeting_id, script)
        attended = {
            key: int(sum((s.left_at - s.joined_at).total_seconds() for s in _union(sessions)))
            for key, sessions in summary.ground_truth.items()
        }
        return PlayedMeeting(meeting_id, tuple(e.body for e in summary.events), attended)

    def customer_call(self, topic: str, start: datetime, *, guests: int = 0) -> PlayedMeeting:
        """Host and one customer (who drops out and rejoins), plus `guests` short dial-in guests."""
        host = ScriptPerson("Hanna Host", HOST.email, HOST.id)
        customer = ScriptPerson("Bob Buyer", "Bob@Customer.example")

        def at(minutes: float) -> datetime:
            return start + timedelta(minutes=minutes)

        script: list[Step] = [
            Start(at(0)),
            Join(at(0), host),
            Join(at(2), customer),
            Leave(at(10), customer),
            Join(at(12), customer),
        ]
        dial_ins = [ScriptPerson(f"Guest {n}") for n in range(guests)]
        # Whole seconds apart: Zoom's wire times have no fractions.
        script += [Join(at(13) + timedelta(seconds=n), g) for n, g in enumerate(dial_ins)]
        script += [Leave(at(20) + timedelta(seconds=n), g) for n, g in enumerate(dial_ins)]
        script.append(End(at(30)))
        return self.play(topic, start, script)

    def internal_sync(self, topic: str, start: datetime) -> PlayedMeeting:
        host = ScriptPerson("Hanna Host", HOST.email, HOST.id)
        colleague = ScriptPerson("Ivan Internal", "ivan@acme.example")
        script: list[Step] = [
            Start(start),
            Join(start, host),
            Join(start + timedelta(minutes=5), colleague),
            End(start + timedelta(minutes=15)),
        ]
        return self.play(topic, start, script)


def _union(sessions: tuple[TruthSession, ...]) -> list[_Span]:
    spans = sorted(_Span(s.joined_at, s.left_at) for s in sessions)
    merged: list[_Span] = []
    for span in spans:
        if merged and span.joined_at <= merged[-1].left_at:
            last = merged[-1]
            merged[-1] = _Span(last.joined_at, max(last.left_at, span.left_at))
        else:
            merged.append(span)
    return merged


@dataclass(frozen=True, order=True)
class _Span:
    joined_at: datetime
    left_at: datetime


def minutes_ago(n: float) -> datetime:
    """A recent instant, whole seconds (Zoom's wire times have no fractions)."""
    return (datetime.now(UTC) - timedelta(minutes=n)).replace(microsecond=0)
