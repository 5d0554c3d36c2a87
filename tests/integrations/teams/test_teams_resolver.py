"""The resolver against the emulator: a played meeting's call record notification, accepted by
the real check, becomes the meeting's events; a lifecycle event reauthorizes the subscription."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from integrations.base import MeetingRequest
from integrations.sandbox.teams import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    NotificationFaults,
    NotificationSender,
    PersonKind,
    ScriptPerson,
    Start,
)
from integrations.teams.adapter import TeamsProvider
from integrations.teams.resolver import CallRecordResolver
from integrations.teams.subscriptions import CALL_RECORDS, TeamsSubscriptions
from service.domain.events import EventType, UndecodableDelivery
from service.domain.meeting import Person
from tests.integrations.teams.conftest import CLIENT_STATE, HOST, CheckedReceiver, RunningTeams, past

ALICE = ScriptPerson(HOST.display_name, PersonKind.TENANT_USER, HOST.upn, HOST.id)
EXTERNAL = ScriptPerson(
    "Erik External",
    PersonKind.EXTERNAL_USER,
    None,
    "e4e4e4e4-0000-4000-8000-0000000000e4",
    "0e4e0000-0000-4000-8000-0000000000e4",
)
GUEST = ScriptPerson("Gina Guest", PersonKind.GUEST)
PHONE = ScriptPerson("+49 30 ****123", PersonKind.PHONE)


@pytest.fixture
def wired(
    teams: RunningTeams, receiver: CheckedReceiver
) -> Iterator[tuple[TeamsProvider, TeamsSubscriptions]]:
    provider = TeamsProvider(teams.settings(), "right-secret", sleep=lambda _: None)
    subscriptions = TeamsSubscriptions(
        provider.api,
        notification_url=receiver.url,
        client_state=CLIENT_STATE,
        lifetime=timedelta(minutes=4200),
        renew_before=timedelta(hours=24),
        clock=lambda: datetime.now(UTC),
    )
    subscriptions.create(CALL_RECORDS)
    yield provider, subscriptions
    provider.close()


def _meeting(provider: TeamsProvider) -> str:
    created = provider.create_meeting(
        MeetingRequest("Pipeline review", None, past(0), 30, "UTC", Person(HOST.upn), (), "mtg_r1")
    )
    return created.provider_meeting_id


SCRIPT = (
    Start(past(0)),
    Join(past(0), ALICE),
    Join(past(1), EXTERNAL),
    Join(past(2), GUEST, device="browser"),
    Leave(past(4), GUEST, device="browser"),
    Join(past(5), GUEST, device="browser"),
    Join(past(6), ALICE, device="mobile"),
    Join(past(7), PHONE, device="phone"),
    Leave(past(9), ALICE, device="mobile"),
    Leave(past(12), PHONE, device="phone"),
    End(past(25)),
)


def test_a_notification_becomes_the_meetings_events(
    teams: RunningTeams, receiver: CheckedReceiver, wired: tuple[TeamsProvider, TeamsSubscriptions]
) -> None:
    provider, subscriptions = wired
    provider_meeting_id = _meeting(provider)
    with NotificationSender(teams.state.config) as sender:
        summary = MeetingPlayer(teams.state, sender, NotificationFaults(duplicate_rate=1.0, seed=1)).play(
            provider_meeting_id.partition(":")[2], SCRIPT, updates=1
        )
    assert len(receiver.accepted) >= 2  # created and updated, each delivered twice
    resolver = CallRecordResolver(provider, subscriptions)
    resolved = [resolver.resolve(body, {}) for body in receiver.accepted]
    first = resolved[0]
    assert all({e.event_key for e in r} == {e.event_key for e in first} for r in resolved)  # same keys
    assert {e.provider_meeting_id for e in first} == {provider_meeting_id}
    started = [e for e in first if e.type is EventType.MEETING_STARTED]
    ended = [e for e in first if e.type is EventType.MEETING_ENDED]
    assert [e.occurred_at for e in started] == [past(0)] and [e.occurred_at for e in ended] == [past(25)]
    assert started[0].host_email == HOST.upn

    sessions: dict[str, list[tuple[datetime, datetime]]] = {}
    joins = {e.session_key: e for e in first if e.type is EventType.PARTICIPANT_JOINED}
    leaves = {e.session_key: e for e in first if e.type is EventType.PARTICIPANT_LEFT}
    assert joins.keys() == leaves.keys() and len(joins) == 6
    for key, join in joins.items():
        assert join.participant is not None
        sessions.setdefault(join.participant.key, []).append((join.occurred_at, leaves[key].occurred_at))
    assert {k: sorted(v) for k, v in sessions.items()} == {
        HOST.upn: [(past(0), past(25)), (past(6), past(9))],
        f"id:{EXTERNAL.object_id}": [(past(1), past(25))],
        "id:name:Gina Guest": [(past(2), past(4)), (past(5), past(25))],
        "id:name:+49 30 ****123": [(past(7), past(12))],
    }
    truth = {k: sorted((s.joined_at, s.left_at) for s in v) for k, v in summary.ground_truth.items()}
    assert truth[HOST.upn] == sessions[HOST.upn]
    alice = next(e.participant for e in first if e.participant and e.participant.email == HOST.upn)
    assert alice.provider_participant_id == HOST.id  # the object id, so a report's row joins it


def test_reauthorization_required_reauthorizes_the_subscription(
    teams: RunningTeams, receiver: CheckedReceiver, wired: tuple[TeamsProvider, TeamsSubscriptions]
) -> None:
    provider, subscriptions = wired
    with NotificationSender(teams.state.config) as sender:
        deliveries = MeetingPlayer(teams.state, sender).send_lifecycle("reauthorizationRequired")
    assert [d.delivered for d in deliveries] == [True]
    assert CallRecordResolver(provider, subscriptions).resolve(receiver.accepted[-1], {}) == []
    (subscription,) = teams.state.subscriptions.values()
    assert subscription.reauthorized_count == 1


def test_a_forged_client_state_never_reaches_the_resolver(
    teams: RunningTeams, receiver: CheckedReceiver, wired: tuple[TeamsProvider, TeamsSubscriptions]
) -> None:
    provider, _ = wired
    provider_meeting_id = _meeting(provider)
    (subscription,) = teams.state.subscriptions.values()
    subscription.client_state = "someone-else"
    with NotificationSender(teams.state.config) as sender:
        summary = MeetingPlayer(teams.state, sender).play(provider_meeting_id.partition(":")[2], SCRIPT)
    assert receiver.accepted == []
    assert all(d.statuses[0] == 401 for d in summary.deliveries)


def test_an_unreadable_delivery_is_undecodable(wired: tuple[TeamsProvider, TeamsSubscriptions]) -> None:
    with pytest.raises(UndecodableDelivery):
        CallRecordResolver(wired[0]).resolve(b"{not json", {})
