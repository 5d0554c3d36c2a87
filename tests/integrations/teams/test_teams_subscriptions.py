"""The callRecords subscription against the emulator: Graph's validation handshake answered by
the real check, renewal before and after expiry (a manual clock), reauthorize, delete."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from integrations.base import ProviderNotFound, ProviderRejected
from integrations.plugin import Answer
from integrations.sandbox.teams import ManualClock
from integrations.teams.adapter import TeamsProvider
from integrations.teams.subscriptions import CALL_RECORDS, TeamsSubscriptions
from tests.integrations.teams.conftest import CLIENT_STATE, CheckedReceiver, RunningTeams

LIFETIME = timedelta(minutes=4200)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def make_subscriptions(
    start_teams: Callable[..., RunningTeams], clock: ManualClock
) -> Iterator[Callable[[str], tuple[RunningTeams, TeamsSubscriptions]]]:
    made: list[TeamsProvider] = []

    def make(url: str) -> tuple[RunningTeams, TeamsSubscriptions]:
        teams = start_teams(clock=clock)
        provider = TeamsProvider(teams.settings(), "right-secret", sleep=lambda _: None)
        made.append(provider)
        subscriptions = TeamsSubscriptions(
            provider.api,
            notification_url=url,
            client_state=CLIENT_STATE,
            lifetime=LIFETIME,
            renew_before=timedelta(hours=24),
            clock=clock,
        )
        return teams, subscriptions

    yield make
    for provider in made:
        provider.close()


def test_create_passes_graphs_handshake_through_the_real_check(
    receiver: CheckedReceiver,
    make_subscriptions: Callable[[str], tuple[RunningTeams, TeamsSubscriptions]],
    clock: ManualClock,
) -> None:
    teams, subscriptions = make_subscriptions(receiver.url)
    assert subscriptions.wanted() == (CALL_RECORDS,)
    created = subscriptions.create(CALL_RECORDS)
    assert created.resource == CALL_RECORDS and created.expires_at == clock() + LIFETIME
    held = teams.state.subscriptions[created.provider_subscription_id]
    assert (held.notification_url, held.lifecycle_url, held.client_state) == (
        receiver.url,
        receiver.url,
        CLIENT_STATE,
    )
    assert held.change_type == "created,updated"
    # Graph validated both URLs (one URL here, validated once) and the check answered it.
    assert teams.state.validation_results == [(receiver.url, True)]
    assert [type(v) for v in receiver.verdicts] == [Answer] and receiver.accepted == []


def test_a_url_that_fails_the_handshake_gets_no_subscription(
    make_subscriptions: Callable[[str], tuple[RunningTeams, TeamsSubscriptions]],
) -> None:
    teams, subscriptions = make_subscriptions("http://127.0.0.1:9/webhooks/teams")  # nothing listens
    with pytest.raises(ProviderRejected) as caught:
        subscriptions.create(CALL_RECORDS)
    assert "validation" in caught.value.message.lower()
    assert teams.state.subscriptions == {}


def test_renewal_before_expiry_and_after_it(
    receiver: CheckedReceiver,
    make_subscriptions: Callable[[str], tuple[RunningTeams, TeamsSubscriptions]],
    clock: ManualClock,
) -> None:
    teams, subscriptions = make_subscriptions(receiver.url)
    created = subscriptions.create(CALL_RECORDS)
    clock.advance(LIFETIME - subscriptions.renew_before)  # due for renewal, not yet expired
    renewed = subscriptions.renew(created)
    assert renewed.provider_subscription_id == created.provider_subscription_id
    assert renewed.expires_at == clock() + LIFETIME > created.expires_at
    assert teams.state.subscriptions[created.provider_subscription_id].expiration == renewed.expires_at

    clock.advance(LIFETIME + timedelta(seconds=1))  # the renewal job missed it: Graph dropped it
    with pytest.raises(ProviderNotFound):
        subscriptions.renew(renewed)
    assert subscriptions.reauthorize(renewed.provider_subscription_id) is False
    again = subscriptions.create(CALL_RECORDS)  # what the renewal job does on ProviderNotFound
    assert again.provider_subscription_id != created.provider_subscription_id
    assert again.expires_at == clock() + LIFETIME


def test_reauthorize_and_delete(
    receiver: CheckedReceiver, make_subscriptions: Callable[[str], tuple[RunningTeams, TeamsSubscriptions]]
) -> None:
    teams, subscriptions = make_subscriptions(receiver.url)
    created = subscriptions.create(CALL_RECORDS)
    assert subscriptions.reauthorize(created.provider_subscription_id) is True
    assert teams.state.subscriptions[created.provider_subscription_id].reauthorized_count == 1
    subscriptions.delete(created)
    assert teams.state.subscriptions == {}
    subscriptions.delete(created)  # already gone counts as deleted


def test_renew_must_come_before_expiry() -> None:
    with pytest.raises(ValueError):
        TeamsSubscriptions(
            object(),  # type: ignore[arg-type]
            notification_url="https://x.example/webhooks/teams",
            client_state="s",
            lifetime=timedelta(hours=1),
            renew_before=timedelta(hours=1),
            clock=lambda: datetime.now(UTC),
        )
