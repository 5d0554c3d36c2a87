"""The Meet resolver and subscriptions against the emulator: pushes become events through the Meet
REST API and the Directory; Workspace Events subscriptions are created, renewed and lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from integrations.base import MeetingRequest, ProviderNotFound, ProviderUnavailable
from integrations.meet.adapter import MeetProvider
from integrations.meet.push_auth import GoogleCertificates
from integrations.meet.resolver import MeetResolver
from integrations.meet.subscriptions import EVENT_TYPES, MeetSubscriptions
from integrations.meet.webhook_check import PushCheck
from integrations.plugin import Accept, WebhookRequest
from integrations.sandbox.meet import (
    End,
    Join,
    Leave,
    ManualClock,
    MeetingPlayer,
    PersonKind,
    PushFaults,
    PushSender,
    ScriptPerson,
    Start,
)
from integrations.sandbox.server import serve_in_thread
from service.domain.events import AttendanceEvent, EventType, UndecodableDelivery
from service.domain.meeting import Person
from tests.integrations.meet_support import (
    HOST,
    OTHER_HOST,
    START,
    RecordedSleeps,
    RunningGoogle,
    running_google,
)

ALICE = ScriptPerson("Alice Seller", user_id=HOST.id, email=HOST.email)
EXTERNAL = ScriptPerson("Erin External", user_id="200000000000000000099")
GUEST = ScriptPerson("Gus Guest", kind=PersonKind.ANONYMOUS)
PHONE = ScriptPerson("+1 555-***-**12", kind=PersonKind.PHONE)


def _at(minutes: int) -> Any:
    return START + timedelta(minutes=minutes)


SCRIPT = [
    Start(_at(0)),
    Join(_at(0), ALICE),
    Join(_at(1), EXTERNAL),
    Join(_at(2), GUEST),
    Join(_at(3), PHONE),
    Join(_at(5), ALICE, device="phone"),
    Leave(_at(8), ALICE, device="phone"),
    Leave(_at(9), GUEST),
    End(_at(10)),
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def google(clock: ManualClock) -> Iterator[RunningGoogle]:
    with running_google(clock=clock) as running:
        yield running


def _provider(google: RunningGoogle, **overrides: Any) -> MeetProvider:
    return MeetProvider(google.section(**overrides), google.key_file, sleep=RecordedSleeps())


def _meeting(provider: MeetProvider) -> str:
    request = MeetingRequest(
        "Demo", None, START, 30, "UTC", Person(HOST.email), (Person("carol@customer.example"),), "mtg-r"
    )
    return provider.create_meeting(request).provider_meeting_id


def _events(provider: MeetProvider, bodies: list[bytes]) -> list[AttendanceEvent]:
    resolver = MeetResolver(provider)
    return [event for body in bodies for event in resolver.resolve(body, {})]


def test_every_push_resolves_to_the_event_it_names(google: RunningGoogle) -> None:
    provider = _provider(google)
    code = _meeting(provider)
    summary = MeetingPlayer(google.state).play(code, SCRIPT)
    events = _events(provider, [m.body("projects/p/subscriptions/s", m.time) for m in summary.messages])

    assert {e.provider_meeting_id for e in events} == {code}
    assert {e.provider_meeting_instance for e in events} == {summary.record_name}
    assert (events[0].type, events[-1].type) == (EventType.MEETING_STARTED, EventType.MEETING_ENDED)
    assert events[0].occurred_at == _at(0) and events[-1].occurred_at == _at(10)
    sessions: dict[str, list[tuple[Any, Any]]] = {}
    opened: dict[str, Any] = {}
    for event in events:
        if event.type is EventType.PARTICIPANT_JOINED:
            assert event.session_key is not None and event.participant is not None
            opened[event.session_key] = event.occurred_at
        elif event.type is EventType.PARTICIPANT_LEFT:
            assert event.session_key is not None and event.participant is not None
            sessions.setdefault(event.participant.key, []).append(
                (opened.pop(event.session_key), event.occurred_at)
            )
    truth = {
        key: sorted((s.joined_at, s.left_at) for s in rows) for key, rows in summary.ground_truth.items()
    }
    assert {key: sorted(rows) for key, rows in sessions.items()} == truth
    people = {e.participant.key: e.participant for e in events if e.participant is not None}
    assert people[HOST.email].provider_participant_id == f"users/{HOST.id}"
    assert people[f"id:users/{EXTERNAL.user_id}"].email is None  # not in the Directory
    guest = next(p for p in people.values() if p.name == "Gus Guest")
    assert (
        guest.email is None
        and guest.provider_participant_id
        and "/participants/" in guest.provider_participant_id
    )


def test_a_redelivered_push_gives_the_same_events(google: RunningGoogle) -> None:
    provider = _provider(google)
    summary = MeetingPlayer(google.state).play(_meeting(provider), SCRIPT)
    body = summary.messages[1].body("projects/p/subscriptions/s", START)
    assert _events(provider, [body]) == _events(_provider(google), [body])


def test_unreadable_pushes_are_undecodable_and_others_are_ignored(google: RunningGoogle) -> None:
    resolver = MeetResolver(_provider(google))
    for body in (
        b"not json",
        b'{"message": {"attributes": {}}}',
        b'{"message": {"data": "!!", "attributes": {"ce-type": "x"}}}',
    ):
        with pytest.raises(UndecodableDelivery):
            resolver.resolve(body, {})
    reminder = "google.workspace.events.subscription.v1.expirationReminder"
    lifecycle = json.dumps({"message": {"attributes": {"ce-type": reminder}, "data": ""}}).encode()
    assert resolver.resolve(lifecycle, {}) == []


def test_a_leave_that_outruns_its_session_end_is_retried_later(google: RunningGoogle) -> None:
    provider = _provider(google)
    summary = MeetingPlayer(google.state).play(_meeting(provider), SCRIPT)
    leave = next(m for m in summary.messages if m.event_type.endswith("participant.v2.left"))
    record = google.state.record(summary.record_name.split("/")[1])
    assert record is not None
    for participant in record.participants:
        for session in participant.sessions:
            session.end_time = None  # as if Meet had not written the end yet
    with pytest.raises(ProviderUnavailable, match="no endTime yet"):
        MeetResolver(provider).resolve(leave.body("projects/p/subscriptions/s", START), {})


# --- subscriptions and the push path ---------------------------------------------------------------


def _subscriptions(google: RunningGoogle, provider: MeetProvider) -> MeetSubscriptions:
    topic = google.state.config.pubsub_topic
    return MeetSubscriptions(provider.apis, provider.directory, [HOST.email, OTHER_HOST.email], topic)


def test_subscriptions_on_each_organizer_are_created_renewed_and_deleted(
    google: RunningGoogle, clock: ManualClock
) -> None:
    provider = _provider(google)
    manager = _subscriptions(google, provider)
    wanted = manager.wanted()
    assert wanted == [
        f"//cloudidentity.googleapis.com/users/{HOST.id}",
        f"//cloudidentity.googleapis.com/users/{OTHER_HOST.id}",
    ]
    made = manager.create(wanted[0])
    held = google.state.subscriptions[made.provider_subscription_id.removeprefix("subscriptions/")]
    assert held.event_types == list(EVENT_TYPES) and held.pubsub_topic == google.state.config.pubsub_topic
    assert held.subject == HOST.email  # made impersonating the user it covers
    assert made.expires_at == START + timedelta(days=7)
    assert manager.create(wanted[0]) == made  # ALREADY_EXISTS: the existing one

    clock.advance(timedelta(days=6, hours=13))
    renewed = manager.renew(made)
    assert renewed.expires_at == clock() + timedelta(days=7)

    manager.delete(renewed)
    assert google.state.subscriptions == {}
    manager.delete(renewed)  # already gone
    with pytest.raises(ProviderNotFound):
        manager.renew(renewed)


def test_an_expired_subscription_cannot_be_renewed_and_is_made_again(
    google: RunningGoogle, clock: ManualClock
) -> None:
    manager = _subscriptions(google, _provider(google))
    made = manager.create(manager.wanted()[0])
    clock.advance(timedelta(days=8))
    with pytest.raises(ProviderNotFound):
        manager.renew(made)
    again = manager.create(made.resource)
    assert again.provider_subscription_id != made.provider_subscription_id


class Inbox:
    """A stand-in for the service's receiver: the real check, then the bodies it accepts."""

    def __init__(self, check: PushCheck) -> None:
        self.check = check
        self.accepted: dict[str, bytes] = {}
        self.refused = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/google")
        async def push(request: Request) -> Response:
            body = await request.body()
            verdict = await self.check(
                WebhookRequest(body, {"authorization": request.headers.get("authorization", "")})
            )
            if not isinstance(verdict, Accept):
                self.refused += 1
                return Response(status_code=401)
            self.accepted.setdefault(verdict.delivery_key, body)
            return Response(status_code=200)

        return app


def test_pushes_reach_only_subscribers_and_pass_the_check(google: RunningGoogle) -> None:
    provider = _provider(google)
    code = _meeting(provider)
    config = google.state.config
    audience = "https://salesmeet.acme.example/webhooks/google"
    inbox = Inbox(
        PushCheck(
            GoogleCertificates(f"{google.url}/oauth2/v1/certs", timeout=5),
            audience=audience,
            service_account=config.push_service_account,
        )
    )
    with serve_in_thread(inbox.app()) as receiver:
        sender = PushSender(
            f"{receiver.url}/webhooks/google",
            config.push_signing_key,
            audience=audience,
            service_account=config.push_service_account,
            subscription=config.pubsub_subscription,
        )
        with sender:
            unheard = MeetingPlayer(google.state, sender).play(code, SCRIPT)
            assert unheard.sent == () and len(unheard.unsubscribed) == len(unheard.messages)
            manager = _subscriptions(google, provider)
            manager.create(manager.wanted()[0])
            faults = PushFaults(duplicate_rate=0.5, shuffle=True, seed=3)
            summary = MeetingPlayer(google.state, sender, faults).play(code, SCRIPT)
    assert inbox.refused == 0
    assert len(summary.sent) > len(summary.messages)  # duplicates were pushed
    assert len(inbox.accepted) == len(summary.messages)  # ...and keyed away by messageId
    events = _events(provider, list(inbox.accepted.values()))
    assert {e.provider_meeting_instance for e in events} == {summary.record_name}
    assert len(events) == len(summary.messages)
