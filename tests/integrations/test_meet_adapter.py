"""MeetProvider with the real google-api-python-client and google-auth, over loopback HTTP against
the Google emulator (no patching): create, retried create, update, cancel, token refresh, rate
limits, errors and paginated attendance."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from integrations.base import (
    MeetingRequest,
    ProviderAuthError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ReportedSession,
)
from integrations.meet.adapter import MeetProvider
from integrations.meet.mapping import calendar_event_id, parse_google_time
from integrations.sandbox.meet import (
    End,
    Join,
    Leave,
    ManualClock,
    MeetingPlayer,
    PersonKind,
    ScriptPerson,
    ServiceAccount,
    Start,
)
from service.domain.meeting import Person
from tests.integrations.meet_support import (
    DELEGATE,
    HOST,
    OTHER_HOST,
    START,
    RecordedSleeps,
    RunningGoogle,
    running_google,
    write_key_file,
)


@pytest.fixture
def google() -> Iterator[RunningGoogle]:
    with running_google() as running:
        yield running


def _request(**changes: object) -> MeetingRequest:
    fields: dict[str, object] = {
        "title": "Discovery call",
        "agenda": "Pains and budget",
        "start": START,
        "duration_minutes": 45,
        "timezone": "Europe/London",
        "organizer": Person(HOST.email, "Alice"),
        "attendees": (Person("carol@customer.example", "Carol"), Person(HOST.email)),
        "idempotency_key": "mtg-1",
    }
    fields.update(changes)
    return MeetingRequest(**fields)  # type: ignore[arg-type]


def _provider(
    google: RunningGoogle, sleeps: RecordedSleeps | None = None, key_file: str | None = None, **overrides: Any
) -> MeetProvider:
    return MeetProvider(
        google.section(**overrides),
        key_file or google.key_file,
        sleep=sleeps if sleeps is not None else RecordedSleeps(),
    )


def test_nothing_touches_the_network_until_first_use(google: RunningGoogle) -> None:
    provider = _provider(google)
    assert google.state.token_requests == 0
    provider.create_meeting(_request())
    assert google.state.token_requests >= 1


def test_create_makes_an_event_with_a_meet_conference_in_the_organizers_calendar(
    google: RunningGoogle,
) -> None:
    created = _provider(google).create_meeting(_request())

    event = google.state.event(HOST.email, calendar_event_id("mtg-1"))
    assert event is not None and event.conference is not None
    space = event.conference.space
    assert created.provider_meeting_id == space.meeting_code
    assert created.join_url == f"https://meet.google.com/{space.meeting_code}"
    assert created.extra == {"calendar_id": HOST.email, "event_id": event.id}
    assert space.owner == HOST
    assert event.summary == "Discovery call" and event.description == "Pains and budget"
    assert event.start == {"dateTime": "2026-04-01T10:00:00+01:00", "timeZone": "Europe/London"}
    assert event.end == {"dateTime": "2026-04-01T10:45:00+01:00", "timeZone": "Europe/London"}
    # The organizer is the calendar's owner, not a guest of their own meeting.
    assert [a["email"] for a in event.attendees] == ["carol@customer.example"]
    # Calendar calls impersonate the organizer (domain-wide delegation).
    subjects = {issued.subject for issued in google.state.tokens.values()}
    assert subjects == {HOST.email}


def test_a_retried_create_finds_the_first_event_and_its_one_conference(google: RunningGoogle) -> None:
    first = _provider(google).create_meeting(_request())
    # Another replica (its own process, its own memory) retries the same meeting.
    again = _provider(google).create_meeting(_request())

    assert again == first
    assert google.state.conferences_created == 1
    assert len(google.state.events) == 1
    assert ("POST", "/calendar/v3/calendars/primary/events") in google.state.api_requests


def test_create_waits_while_the_conference_is_pending() -> None:
    with running_google(conference_pending_reads=2) as google:
        sleeps = RecordedSleeps()
        created = _provider(google, sleeps).create_meeting(_request())
        gets = [r for r in google.state.api_requests if r[0] == "GET"]
    assert created.provider_meeting_id
    assert len(gets) == 3  # pending, pending, success
    assert sleeps == [0.01, 0.01, 0.01]


def test_a_conference_pending_too_long_is_unavailable_not_a_meeting_without_link() -> None:
    with (
        running_google(conference_pending_reads=10) as google,
        pytest.raises(ProviderUnavailable, match="still being created"),
    ):
        _provider(google, conference_poll_attempts=2).create_meeting(_request())


def test_update_patches_the_event_in_place(google: RunningGoogle) -> None:
    provider = _provider(google)
    created = provider.create_meeting(_request())
    moved = provider.update_meeting(
        created.provider_meeting_id,
        _request(
            title="Demo",
            start=START + timedelta(days=1),
            attendees=(Person("dave@customer.example"),),
        ),
    )
    assert moved == created
    event = google.state.event(HOST.email, calendar_event_id("mtg-1"))
    assert event is not None
    assert event.summary == "Demo" and event.sequence == 1
    assert event.start["dateTime"] == "2026-04-02T10:00:00+01:00"
    assert [a["email"] for a in event.attendees] == ["dave@customer.example"]
    assert google.state.conferences_created == 1


def test_update_of_a_deleted_event_is_not_found(google: RunningGoogle) -> None:
    provider = _provider(google)
    created = provider.create_meeting(_request())
    provider.cancel_meeting(created.provider_meeting_id, created.extra)
    with pytest.raises(ProviderNotFound):
        provider.update_meeting(created.provider_meeting_id, _request())


def test_cancel_deletes_the_event_and_a_second_cancel_is_fine(google: RunningGoogle) -> None:
    created = _provider(google).create_meeting(_request())
    # A fresh provider (say after a restart) is told where the event is by the stored extra.
    provider = _provider(google)
    provider.cancel_meeting(created.provider_meeting_id, created.extra)
    assert google.state.event(HOST.email, created.extra["event_id"]) is None
    provider.cancel_meeting(created.provider_meeting_id, created.extra)  # 410 Gone: already cancelled


def test_cancel_by_meeting_code_alone_works_in_the_process_that_made_it(google: RunningGoogle) -> None:
    provider = _provider(google)
    created = provider.create_meeting(_request())
    provider.cancel_meeting(created.provider_meeting_id)
    assert google.state.event(HOST.email, created.extra["event_id"]) is None
    with pytest.raises(ProviderRejected, match="which calendar"):
        _provider(google).cancel_meeting("zzz-zzzz-zzz")


def test_an_expired_token_is_refreshed_and_the_call_retried() -> None:
    clock = ManualClock(START)
    with running_google(clock=clock) as google:
        provider = _provider(google)
        provider.create_meeting(_request())
        assert google.state.token_requests == 1
        # The emulator's clock moves past the token's expiry; google-auth still thinks it valid,
        # is answered 401, refreshes and retries on its own.
        clock.advance(timedelta(hours=2))
        provider.update_meeting(
            provider.create_meeting(_request()).provider_meeting_id, _request(title="Later")
        )
        assert google.state.token_requests == 2
        google.state.revoke_all_tokens()
        provider.update_meeting(
            provider.create_meeting(_request()).provider_meeting_id, _request(title="Again")
        )
        assert google.state.token_requests == 3
        event = google.state.event(HOST.email, calendar_event_id("mtg-1"))
        assert event is not None and event.summary == "Again"


def test_calendar_rate_limit_403_is_retried_then_succeeds(google: RunningGoogle) -> None:
    google.state.faults.rate_limit_next(1, reason="rateLimitExceeded")
    google.state.faults.rate_limit_next(1, reason="userRateLimitExceeded")
    sleeps = RecordedSleeps()
    created = _provider(google, sleeps, retry_base_delay_seconds=0.25).create_meeting(_request())
    assert created.provider_meeting_id
    assert sleeps == [0.25, 0.5]


def test_rate_limits_beyond_the_retries_raise_rate_limited(google: RunningGoogle) -> None:
    google.state.faults.rate_limit_next(3)
    with pytest.raises(ProviderRateLimited) as caught:
        _provider(google, max_retries=2).create_meeting(_request())
    assert caught.value.status == 403 and "rateLimitExceeded" in caught.value.message


def test_server_errors_beyond_the_retries_are_unavailable(google: RunningGoogle) -> None:
    google.state.faults.fail_next(4, status=503)
    with pytest.raises(ProviderUnavailable):
        _provider(google, max_retries=3).create_meeting(_request())
    # The same meeting goes through once Google recovers: still one conference.
    _provider(google).create_meeting(_request())
    assert google.state.conferences_created == 1


def test_an_organizer_outside_the_workspace_is_not_found(google: RunningGoogle) -> None:
    with pytest.raises(ProviderNotFound, match=r"mallory@elsewhere\.example has no Google Workspace account"):
        _provider(google).create_meeting(_request(organizer=Person("mallory@elsewhere.example")))


def test_an_invalid_attendee_is_rejected(google: RunningGoogle) -> None:
    with pytest.raises(ProviderRejected, match="Invalid attendee email"):
        _provider(google).create_meeting(_request(attendees=(Person("not-an-email"),)))


def test_a_key_the_account_does_not_have_is_refused(google: RunningGoogle, tmp_path: Any) -> None:
    stranger = ServiceAccount.generate(name="stranger")
    key_file = write_key_file(str(tmp_path), stranger, f"{google.url}/token")
    provider = _provider(google, key_file=key_file)
    with pytest.raises(ProviderAuthError) as caught:
        provider.create_meeting(_request())
    assert stranger.key.private_pem not in str(caught.value)
    health = provider.check_health()
    assert not health.token_obtainable and health.detail and "provider_auth_failed" in health.detail
    assert _provider(google).check_health().token_obtainable


def test_an_unreadable_key_file_is_an_auth_error(google: RunningGoogle, tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.json")
    with pytest.raises(ProviderAuthError, match="unreadable"):
        _provider(google, key_file=missing).create_meeting(_request())


# --- attendance -----------------------------------------------------------------------------------

ALICE = ScriptPerson("Alice Seller", user_id=HOST.id, email=HOST.email)
BOB = ScriptPerson("Bob Manager", user_id=OTHER_HOST.id, email=OTHER_HOST.email)
EXTERNAL = ScriptPerson("Erin External", user_id="200000000000000000099")
GUEST = ScriptPerson("Gus Guest", kind=PersonKind.ANONYMOUS)
PHONE = ScriptPerson("+1 555-***-**12", kind=PersonKind.PHONE)


def _minutes(n: int) -> Any:
    return START + timedelta(minutes=n)


SCRIPT = [
    Start(_minutes(0)),
    Join(_minutes(0), ALICE),
    Join(_minutes(1), BOB),
    Join(_minutes(2), EXTERNAL),
    Join(_minutes(3), GUEST),
    Join(_minutes(4), PHONE),
    Leave(_minutes(10), BOB),
    Join(_minutes(12), BOB),  # rejoin
    Join(_minutes(15), ALICE, device="phone"),  # second device
    Leave(_minutes(20), ALICE, device="phone"),
    Leave(_minutes(25), GUEST),
    End(_minutes(30)),
]


def _truth_rows(summary: Any) -> list[tuple[str, Any, Any]]:
    return sorted(
        (key, s.joined_at, s.left_at) for key, sessions in summary.ground_truth.items() for s in sessions
    )


def _report_rows(sessions: tuple[ReportedSession, ...]) -> list[tuple[str, Any, Any]]:
    def key(row: ReportedSession) -> str:
        return row.email or f"id:{row.provider_participant_id}"

    return sorted((key(s), s.joined_at, s.left_at) for s in sessions)


def test_attendance_walks_every_page_of_records_participants_and_sessions(google: RunningGoogle) -> None:
    provider = _provider(google, page_size=2)
    created = provider.create_meeting(_request())
    player = MeetingPlayer(google.state)
    first = player.play(created.provider_meeting_id, SCRIPT)
    # The meeting is held again in the same space (someone reopened the link): a second record.
    later = [Start(_minutes(60)), Join(_minutes(61), ALICE), Join(_minutes(62), GUEST), End(_minutes(70))]
    second = player.play(created.provider_meeting_id, later)

    report = provider.fetch_attendance(created.provider_meeting_id)

    assert report.actual_start == _minutes(0) and report.actual_end == _minutes(70)
    assert _report_rows(report.sessions) == sorted(_truth_rows(first) + _truth_rows(second))
    paged = [path for method, path in google.state.api_requests if path.endswith("/participants")]
    assert len(paged) == 3 + 1  # five participants in pages of two, then two in one page
    by_key = {row.email or f"id:{row.provider_participant_id}": row for row in report.sessions}
    assert by_key[HOST.email].provider_participant_id == f"users/{HOST.id}"
    assert f"id:users/{EXTERNAL.user_id}" in by_key  # outside the domain: their user id
    guest_ids = {r.provider_participant_id for r in report.sessions if r.name == "Gus Guest"}
    assert len(guest_ids) == 2  # one guest per conference: never merged across conferences


def test_attendance_of_one_instance(google: RunningGoogle) -> None:
    provider = _provider(google)
    created = provider.create_meeting(_request())
    summary = MeetingPlayer(google.state).play(created.provider_meeting_id, SCRIPT)
    report = provider.fetch_attendance(created.provider_meeting_id, summary.record_name)
    assert _report_rows(report.sessions) == _truth_rows(summary)


def test_meet_429_is_retried_while_reading_attendance(google: RunningGoogle) -> None:
    provider = _provider(google)
    created = provider.create_meeting(_request())
    summary = MeetingPlayer(google.state).play(created.provider_meeting_id, SCRIPT)
    google.state.faults.rate_limit_next(2)
    sleeps = RecordedSleeps()
    report = _provider(google, sleeps).fetch_attendance(created.provider_meeting_id)
    assert _report_rows(report.sessions) == _truth_rows(summary)
    assert len(sleeps) == 2


def test_attendance_reads_impersonate_the_delegated_user(google: RunningGoogle) -> None:
    created = _provider(google).create_meeting(_request())
    google.state.revoke_all_tokens()
    _provider(google).fetch_attendance(created.provider_meeting_id)
    assert {t.subject for t in google.state.tokens.values()} == {DELEGATE.email}
    assert _provider(google).fetch_attendance("abc-defg-hij").sessions == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-01T09:00:00Z", START),
        ("2026-04-01T09:00:00.123456789Z", START + timedelta(microseconds=123456)),
        ("2026-04-01T10:00:00.5+01:00", START + timedelta(microseconds=500000)),
        ("2026-04-01T09:00:00", None),  # no zone: not Google's
        ("", None),
    ],
)
def test_google_timestamps_parse_with_any_fraction(text: str, expected: Any) -> None:
    assert parse_google_time(text) == expected


def test_one_provider_serves_many_threads_at_once(google: RunningGoogle) -> None:
    """Service objects are never shared: each call builds its own, so concurrent calls all succeed."""
    provider = _provider(google)
    keys = [f"mtg-{n}" for n in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda key: provider.create_meeting(_request(idempotency_key=key)), keys))
    assert len({m.provider_meeting_id for m in made}) == len(keys)
    assert google.state.conferences_created == len(keys)
    assert google.state.token_requests <= 8  # the credentials are shared: a handful of cold refreshes


def test_a_slow_google_times_out_as_unavailable_and_the_retry_finds_the_same_event(
    google: RunningGoogle,
) -> None:
    google.state.faults.latency_seconds = 1.5
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        _provider(google, timeout_seconds=0.3, max_retries=0).create_meeting(_request())
    google.state.faults.latency_seconds = 0.0
    # The slow insert may still have landed: the retry (same meeting id) finds it, one conference.
    created = _provider(google).create_meeting(_request())
    assert google.state.conferences_created == 1
    assert created.extra["event_id"] == calendar_event_id("mtg-1")
