"""TeamsProvider with real msal and httpx over TLS against the Teams emulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from integrations.base import (
    MeetingRequest,
    ProviderAuthError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from integrations.sandbox.teams import End, Join, Leave, MeetingPlayer, PersonKind, ScriptPerson, Start
from integrations.teams.adapter import TeamsProvider
from service.domain.meeting import Person
from tests.integrations.teams.conftest import HOST, OTHER_HOST, RunningTeams, past

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _request(**changes: object) -> MeetingRequest:
    fields: dict[str, object] = {
        "title": "Discovery call",
        "agenda": "Pains and budget",
        "start": START,
        "duration_minutes": 45,
        "timezone": "Europe/London",
        "organizer": Person(HOST.upn, "Alice"),
        "attendees": (Person("carol@customer.example"), Person("bob@acme.example")),
        "idempotency_key": "mtg_0001",
    }
    fields.update(changes)
    return MeetingRequest(**fields)  # type: ignore[arg-type]


class RecordedSleeps(list[float]):
    """The retry loop's sleep seam: records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _provider(
    teams: RunningTeams,
    sleeps: RecordedSleeps | None = None,
    secret: str = "right-secret",
    **overrides: object,
) -> TeamsProvider:
    provider = TeamsProvider(
        teams.settings(**overrides), secret, sleep=sleeps if sleeps is not None else RecordedSleeps()
    )
    _MADE.append(provider)
    return provider


_MADE: list[TeamsProvider] = []


@pytest.fixture(autouse=True)
def _close_providers() -> Iterator[None]:
    yield
    while _MADE:
        _MADE.pop().close()


def test_nothing_touches_the_network_until_first_use(teams: RunningTeams) -> None:
    provider = _provider(teams)
    assert teams.state.discovery_requests == 0 and teams.state.token_requests == 0
    provider.create_meeting(_request())
    assert teams.state.discovery_requests == 1 and teams.state.token_requests == 1


def test_create_makes_an_online_meeting_for_the_organizer_keyed_by_our_id(teams: RunningTeams) -> None:
    created = _provider(teams).create_meeting(_request())
    organizer_id, _, meeting_id = created.provider_meeting_id.partition(":")
    assert organizer_id == HOST.id
    meeting = teams.state.meeting(meeting_id)
    assert meeting is not None
    assert meeting.organizer == HOST and meeting.external_id == "mtg_0001"
    assert meeting.subject == "Discovery call"
    assert (meeting.start, meeting.end) == (START, START + timedelta(minutes=45))
    assert [a["upn"] for a in meeting.attendees] == ["carol@customer.example", "bob@acme.example"]
    assert created.join_url == meeting.join_web_url
    assert created.extra["online_meeting_id"] == meeting_id


def test_a_retried_create_returns_the_same_meeting(teams: RunningTeams) -> None:
    provider = _provider(teams)
    first = provider.create_meeting(_request())
    again = _provider(teams).create_meeting(_request())  # another replica, same meeting id
    assert again == first
    assert len(teams.state.meetings) == 1
    other = provider.create_meeting(_request(idempotency_key="mtg_0002"))
    assert other.provider_meeting_id != first.provider_meeting_id
    assert len(teams.state.meetings) == 2


def test_a_create_whose_answer_was_lost_is_retried_into_the_same_meeting(teams: RunningTeams) -> None:
    sleeps = RecordedSleeps()
    teams.state.faults.fail_next(1, status=504)  # Graph made it, the answer never arrived: retried
    provider = _provider(teams, sleeps)
    provider.create_meeting(_request())
    assert len(teams.state.meetings) == 1


def test_update_changes_the_same_meeting_in_place(teams: RunningTeams) -> None:
    provider = _provider(teams)
    created = provider.create_meeting(_request())
    later = START + timedelta(days=1, hours=2)
    updated = provider.update_meeting(
        created.provider_meeting_id,
        _request(title="Demo", start=later, duration_minutes=30, attendees=(Person("dan@customer.example"),)),
    )
    assert updated.provider_meeting_id == created.provider_meeting_id
    assert updated.join_url == created.join_url
    assert len(teams.state.meetings) == 1
    meeting = teams.state.meeting(created.extra["online_meeting_id"])
    assert meeting is not None
    assert (meeting.subject, meeting.start, meeting.end) == ("Demo", later, later + timedelta(minutes=30))
    assert [a["upn"] for a in meeting.attendees] == ["dan@customer.example"]  # the full list replaced
    assert [m for m, _ in teams.state.api_requests].count("PATCH") == 1


def test_cancel_really_deletes_and_a_second_cancel_is_fine(teams: RunningTeams) -> None:
    provider = _provider(teams)
    created = provider.create_meeting(_request())
    provider.cancel_meeting(created.provider_meeting_id)
    assert teams.state.meetings == {}
    assert created.extra["online_meeting_id"] in teams.state.deleted_meeting_ids
    provider.cancel_meeting(created.provider_meeting_id)  # already gone counts as cancelled
    with pytest.raises(ProviderNotFound):
        provider.update_meeting(created.provider_meeting_id, _request())


def test_one_token_request_serves_many_calls_and_threads(teams: RunningTeams) -> None:
    provider = _provider(teams)
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            provider.create_meeting(_request(idempotency_key=f"mtg_{n:04d}"))
        except BaseException as exc:  # handed to the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(12, 20):
        create(n)
    assert len(teams.state.meetings) == 20
    assert teams.state.token_requests == 1
    assert teams.state.discovery_requests == 1


def test_an_expired_token_is_replaced_once(teams: RunningTeams) -> None:
    provider = _provider(teams)
    provider.create_meeting(_request())
    teams.state.expire_all_tokens()
    provider.create_meeting(_request(idempotency_key="mtg_0002"))
    assert teams.state.token_requests == 2
    assert len(teams.state.meetings) == 2


def test_429_waits_the_fractional_retry_after_then_succeeds(teams: RunningTeams) -> None:
    sleeps = RecordedSleeps()
    teams.state.faults.rate_limit_next(2, retry_after="2.128")
    teams.state.faults.fail_next(1, status=503, retry_after="0.75")
    created = _provider(teams, sleeps).create_meeting(_request())
    assert sleeps == [2.128, 2.128, 0.75]
    assert len(teams.state.meetings) == 1 and created.provider_meeting_id


def test_throttling_that_outlasts_the_retries_is_rate_limited_with_its_retry_after(
    teams: RunningTeams,
) -> None:
    sleeps = RecordedSleeps()
    teams.state.faults.rate_limit_next(5, retry_after="1.5")
    with pytest.raises(ProviderRateLimited) as caught:
        _provider(teams, sleeps, max_retries=2).create_meeting(_request())
    assert caught.value.retry_after == 1.5 and caught.value.retryable
    assert sleeps == [1.5, 1.5]
    assert teams.state.meetings == {}


def test_server_errors_are_unavailable_after_the_retries(teams: RunningTeams) -> None:
    sleeps = RecordedSleeps()
    teams.state.faults.fail_next(4, status=500)
    with pytest.raises(ProviderUnavailable) as caught:
        _provider(teams, sleeps, max_retries=3).create_meeting(_request())
    assert caught.value.status == 500 and len(sleeps) == 3


def test_a_wrong_secret_is_an_auth_error_without_the_secret(teams: RunningTeams) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        _provider(teams, secret="wrong-secret-value").create_meeting(_request())
    assert "invalid_client" in caught.value.message and "7000215" in caught.value.message
    assert "wrong-secret-value" not in str(caught.value)
    assert teams.state.meetings == {}


def test_an_unknown_tenant_is_an_auth_error(teams: RunningTeams) -> None:
    with pytest.raises(ProviderAuthError):
        _provider(teams, tenant_id="00000000-dead-4000-8000-000000000000").create_meeting(_request())


def test_an_untrusted_certificate_is_unavailable_not_ignored(teams: RunningTeams) -> None:
    with pytest.raises(ProviderUnavailable):
        _provider(teams, ca_bundle=None).create_meeting(_request())


def test_an_organizer_unknown_to_the_tenant_is_not_found(teams: RunningTeams) -> None:
    with pytest.raises(ProviderNotFound) as caught:
        _provider(teams).create_meeting(_request(organizer=Person("nobody@acme.example")))
    assert "nobody@acme.example" in caught.value.message


def test_an_organizer_without_an_application_access_policy_is_an_auth_error(
    start_teams: object,
) -> None:
    teams = start_teams(access_policy_user_ids=frozenset({OTHER_HOST.id}))  # type: ignore[operator]
    with pytest.raises(ProviderAuthError) as caught:
        _provider(teams).create_meeting(_request())
    assert caught.value.status == 403


def test_input_graph_refuses_is_rejected(teams: RunningTeams) -> None:
    with pytest.raises(ProviderRejected) as caught:
        _provider(teams).create_meeting(_request(title="x" * 300))
    assert caught.value.status == 400 and not caught.value.retryable
    with pytest.raises(ProviderRejected):
        _provider(teams).cancel_meeting("not-a-teams-id")


def test_health_says_whether_a_token_is_obtainable(teams: RunningTeams) -> None:
    assert _provider(teams).check_health().token_obtainable
    health = _provider(teams, secret="nope").check_health()
    assert not health.token_obtainable and health.detail and "provider_auth_failed" in health.detail


CAROL = ScriptPerson(
    "Carol Customer",
    PersonKind.EXTERNAL_USER,
    "carol@customer.example",
    "ca401000-0000-4000-8000-0000000000ca",
    "c0570000-0000-4000-8000-000000000c57",
)
GUEST = ScriptPerson("Gina Guest", PersonKind.GUEST)
PHONE = ScriptPerson("+49 30 ****123", PersonKind.PHONE)
ALICE = ScriptPerson(HOST.display_name, PersonKind.TENANT_USER, HOST.upn, HOST.id)


def test_attendance_reads_every_interval_across_pages(start_teams: object) -> None:
    teams = start_teams(page_size=2)  # type: ignore[operator]
    provider = _provider(teams)
    created = provider.create_meeting(_request())
    with pytest.raises(ProviderNotFound):
        provider.fetch_attendance(created.provider_meeting_id)  # no report before the meeting ends
    script = (
        Start(past(0)),
        Join(past(0), ALICE),
        Join(past(1), CAROL),
        Join(past(2), GUEST),
        Leave(past(5), GUEST),
        Join(past(6), GUEST),
        Join(past(7), PHONE, device="phone"),
        Leave(past(9), CAROL),
        Leave(past(12), PHONE, device="phone"),
        End(past(20)),
    )
    summary = MeetingPlayer(teams.state).play(created.extra["online_meeting_id"], script)
    report = provider.fetch_attendance(created.provider_meeting_id)
    assert (report.actual_start, report.actual_end) == (past(0), past(20))
    got = {(s.email, s.provider_participant_id, s.joined_at, s.left_at) for s in report.sessions}
    assert got == {
        (HOST.upn, HOST.id, past(0), past(20)),
        ("carol@customer.example", CAROL.object_id, past(1), past(9)),
        (None, "name:Gina Guest", past(2), past(5)),
        (None, "name:Gina Guest", past(6), past(20)),
        (None, "name:+49 30 ****123", past(7), past(12)),
    }
    assert sum(len(v) for v in summary.ground_truth.values()) == 5
    pages = [p for m, p in teams.state.api_requests if "attendanceRecords" in p]
    assert len(pages) == 2 and "$skiptoken=" in pages[1]
