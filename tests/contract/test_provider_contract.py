"""The provider contract: what every provider's adapter does against its emulator, the same way.

Parametrised over the registered providers that have an adapter; each runs its real SDK over
loopback against its own emulator (see harnesses.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from integrations.base import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from integrations.registry import DEFAULT_PLUGINS
from tests.contract.harnesses import HARNESSES, START, ProviderHarness, contract_request

WITH_ADAPTERS = [plugin.name for plugin in DEFAULT_PLUGINS if plugin.build is not None]


def test_every_provider_with_an_adapter_runs_the_contract() -> None:
    assert sorted(WITH_ADAPTERS) == sorted(HARNESSES)


@pytest.fixture(params=WITH_ADAPTERS, ids=lambda name: name.value)
def harness(request: pytest.FixtureRequest) -> Iterator[ProviderHarness]:
    with HARNESSES[request.param]() as running:
        yield running


def test_create_and_a_retried_create(harness: ProviderHarness) -> None:
    adapter = harness.adapter()
    made = adapter.create_meeting(contract_request())
    assert made.provider_meeting_id and made.join_url.startswith("https://")
    assert harness.title_held(made.provider_meeting_id) == "Contract check"
    if harness.idempotent_create:
        again = adapter.create_meeting(contract_request())
        assert again.provider_meeting_id == made.provider_meeting_id
        assert harness.meetings_held() == 1


def test_update_in_place(harness: ProviderHarness) -> None:
    adapter = harness.adapter()
    made = adapter.create_meeting(contract_request())
    moved = adapter.update_meeting(
        made.provider_meeting_id, contract_request(title="Moved", start=START + timedelta(days=1))
    )
    assert moved.provider_meeting_id == made.provider_meeting_id
    assert harness.title_held(made.provider_meeting_id) == "Moved"
    assert harness.meetings_held() == 1


def test_cancel_twice(harness: ProviderHarness) -> None:
    adapter = harness.adapter()
    made = adapter.create_meeting(contract_request())
    adapter.cancel_meeting(made.provider_meeting_id)
    assert harness.title_held(made.provider_meeting_id) is None
    adapter.cancel_meeting(made.provider_meeting_id)  # already gone counts as cancelled
    assert harness.meetings_held() == 0


def test_report_across_pages(harness: ProviderHarness) -> None:
    adapter = harness.adapter()
    made = adapter.create_meeting(contract_request())
    truth = harness.play(made.provider_meeting_id, participants=7)  # more rows than a page holds
    report = adapter.fetch_attendance(made.provider_meeting_id)
    seconds: dict[str, int] = {}
    for session in report.sessions:
        assert session.email is not None
        seconds[session.email] = seconds.get(session.email, 0) + int(
            (session.left_at - session.joined_at).total_seconds()
        )
    assert seconds == truth


def test_health(harness: ProviderHarness) -> None:
    assert harness.adapter().check_health().token_obtainable
    refused = harness.adapter(wrong_secret=True).check_health()
    assert not refused.token_obtainable and refused.detail


def test_every_error_class_of_the_port(harness: ProviderHarness) -> None:
    adapter = harness.adapter()
    with pytest.raises(ProviderAuthError):
        harness.adapter(wrong_secret=True).create_meeting(contract_request())
    with pytest.raises(ProviderNotFound):
        adapter.update_meeting(harness.unknown_meeting_id(), contract_request())
    with pytest.raises(ProviderNotFound):
        adapter.create_meeting(harness.unlicensed_organizer())
    with pytest.raises(ProviderRejected):
        adapter.create_meeting(harness.rejected_request())
    harness.fail_next(429, 20)
    with pytest.raises(ProviderRateLimited) as limited:
        adapter.update_meeting(harness.unknown_meeting_id(), contract_request())
    assert limited.value.retryable
    harness.clear_faults()
    harness.fail_next(503, 20)
    with pytest.raises(ProviderUnavailable) as down:
        adapter.update_meeting(harness.unknown_meeting_id(), contract_request())
    assert down.value.retryable
    harness.clear_faults()
    for error in (limited.value, down.value):
        assert isinstance(error, ProviderError) and error.provider == harness.name


def test_a_few_failures_are_retried_to_success(harness: ProviderHarness) -> None:
    adapter = harness.adapter()
    harness.fail_next(429, 1)
    harness.fail_next(503, 1)
    made = adapter.create_meeting(contract_request())
    assert harness.title_held(made.provider_meeting_id) == "Contract check"
