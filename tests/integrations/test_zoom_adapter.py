"""ZoomProvider with the real zoomus client over loopback HTTP against the Zoom emulator."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from integrations.base import (
    MeetingRequest,
    ProviderAuthError,
    ProviderCreateUnfinished,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ReportedSession,
)
from integrations.sandbox.zoom import End, Join, Leave, MeetingPlayer, ScriptPerson, Start
from integrations.zoom.adapter import ZoomProvider
from integrations.zoom.config import ZoomConfig
from service.domain.meeting import MeetingKind, Person
from tests.integrations.conftest import HOST, RunningZoom

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _request(**changes: object) -> MeetingRequest:
    fields: dict[str, object] = {
        "title": "Discovery call",
        "agenda": "Pains and budget",
        "start": START,
        "duration_minutes": 45,
        "timezone": "Europe/London",
        "organizer": Person(HOST.email, "Alice"),
        "attendees": (Person("carol@customer.example"),),
        "idempotency_key": "k-1",
    }
    fields.update(changes)
    return MeetingRequest(**fields)  # type: ignore[arg-type]


class RecordedSleeps(list[float]):
    """The retry loop's sleep seam: records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _provider(
    zoom: RunningZoom,
    sleeps: RecordedSleeps | None = None,
    *,
    client_secret: str | None = None,
    **overrides: object,
) -> ZoomProvider:
    return ZoomProvider(
        zoom.adapter_settings(**overrides),
        client_secret or zoom.client_secret,
        sleep=sleeps if sleeps is not None else RecordedSleeps(),
    )


def test_nothing_touches_the_network_until_first_use(zoom: RunningZoom) -> None:
    provider = _provider(zoom)
    assert zoom.state.token_requests == 0
    provider.create_meeting(_request())
    assert zoom.state.token_requests >= 1


def test_create_update_cancel(zoom: RunningZoom) -> None:
    provider = _provider(zoom, waiting_room=True, join_before_host=False)
    created = provider.create_meeting(_request())
    meeting = zoom.state.meeting(int(created.provider_meeting_id))
    assert meeting is not None
    assert meeting.host.email == HOST.email
    assert meeting.start_time == START and meeting.duration == 45 and meeting.type == 2
    assert meeting.timezone == "Europe/London" and meeting.agenda == "Pains and budget"
    assert meeting.settings["waiting_room"] is True
    assert meeting.settings["meeting_invitees"] == [{"email": "carol@customer.example"}]
    assert meeting.password.isdigit() and len(meeting.password) == 8
    assert created.join_url == meeting.join_url and created.start_url
    assert created.extra == {"uuid": meeting.uuid}

    moved = provider.update_meeting(
        created.provider_meeting_id, _request(title="Demo", start=START + timedelta(days=1))
    )
    assert moved.provider_meeting_id == created.provider_meeting_id
    assert (meeting.topic, meeting.start_time) == ("Demo", START + timedelta(days=1))
    assert len(zoom.state.meetings) == 1

    provider.cancel_meeting(created.provider_meeting_id)
    assert zoom.state.meeting(int(created.provider_meeting_id)) is None
    provider.cancel_meeting(created.provider_meeting_id)  # already gone counts as cancelled


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 30 min after London springs forward
        datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/London")),  # the same instant, in BST
        datetime(2026, 3, 28, 21, 30, tzinfo=ZoneInfo("America/New_York")),  # the same instant, in EDT
    ],
)
def test_start_is_the_same_instant_across_dst(zoom: RunningZoom, start: datetime) -> None:
    created = _provider(zoom).create_meeting(_request(start=start))
    meeting = zoom.state.meeting(int(created.provider_meeting_id))
    assert meeting is not None and meeting.start_time == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_expired_tokens_are_refreshed_transparently(zoom: RunningZoom) -> None:
    provider = _provider(zoom)
    provider.create_meeting(_request())
    before = zoom.state.token_requests
    zoom.state.expire_all_tokens()
    provider.create_meeting(_request())
    assert zoom.state.token_requests == before + 1
    assert len(zoom.state.meetings) == 2


def test_token_near_expiry_is_refreshed_before_use(start_zoom: Callable[..., RunningZoom]) -> None:
    zoom = start_zoom(token_expires_in=30)  # inside the 60 s margin: every call refreshes first
    provider = _provider(zoom)
    provider.create_meeting(_request())
    provider.create_meeting(_request())
    creates = [path for method, path in zoom.state.api_requests if method == "POST"]
    assert len(creates) == 2  # no call was refused with 401 and retried


def test_wrong_secret_is_a_clear_auth_error_without_the_secret(zoom: RunningZoom) -> None:
    provider = _provider(zoom, client_secret="not-the-secret-xyz")
    with pytest.raises(ProviderAuthError) as caught:
        provider.create_meeting(_request())
    assert "not-the-secret-xyz" not in str(caught.value)
    assert "Invalid client_id or client_secret" in str(caught.value)
    assert not zoom.state.api_requests  # no `Bearer None` call went out
    health = provider.check_health()
    assert not health.token_obtainable and health.detail and "not-the-secret-xyz" not in health.detail
    assert "not-the-secret-xyz" not in repr(provider.__dict__)


def test_health_ok_and_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token_url = f"http://127.0.0.1:{port}/oauth/token"
    settings = ZoomConfig(account_id="acct", client_id="cid", token_url=token_url, timeout_seconds=1)
    health = ZoomProvider(settings, "secret").check_health()
    assert not health.token_obtainable and health.detail and "provider_unavailable" in health.detail


def test_health_ok(zoom: RunningZoom) -> None:
    assert _provider(zoom).check_health().token_obtainable


def test_429_then_success_honours_retry_after(zoom: RunningZoom) -> None:
    sleeps = RecordedSleeps()
    zoom.state.faults.rate_limit_next(1, retry_after="2")
    zoom.state.faults.rate_limit_next(1, retry_after=None)
    created = _provider(zoom, sleeps).create_meeting(_request())
    assert created.provider_meeting_id
    assert sleeps == [2.0, 1.0]  # Retry-After, then base 0.5 s doubled on the second retry


def test_retry_after_is_capped(zoom: RunningZoom) -> None:
    sleeps = RecordedSleeps()
    zoom.state.faults.rate_limit_next(1, retry_after="900")
    _provider(zoom, sleeps, max_retry_wait_seconds=5).create_meeting(_request())
    assert sleeps == [5.0]


def test_daily_limit_fails_at_once_without_sleeping(start_zoom: Callable[..., RunningZoom]) -> None:
    zoom = start_zoom(daily_create_update_limit=1)
    sleeps = RecordedSleeps()
    provider = _provider(zoom, sleeps)
    provider.create_meeting(_request())
    with pytest.raises(ProviderRateLimited) as caught:
        provider.create_meeting(_request())
    assert caught.value.daily_limit is True
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 86400
    assert sleeps == []


def test_5xx_is_retried_then_unavailable(zoom: RunningZoom) -> None:
    sleeps = RecordedSleeps()
    zoom.state.faults.fail_next(10, status=503)
    with pytest.raises(ProviderUnavailable) as caught:
        _provider(zoom, sleeps, max_retries=2).create_meeting(_request())
    assert caught.value.status == 503 and caught.value.retryable
    assert sleeps == [0.5, 1.0]


def test_one_5xx_then_success(zoom: RunningZoom) -> None:
    zoom.state.faults.fail_next(1, status=500)
    assert _provider(zoom).create_meeting(_request()).join_url


def test_rejections_and_not_found(zoom: RunningZoom) -> None:
    provider = _provider(zoom)
    with pytest.raises(ProviderRejected):
        provider.create_meeting(_request(title="x" * 201))
    with pytest.raises(ProviderNotFound):
        provider.create_meeting(_request(organizer=Person("stranger@acme.example")))
    with pytest.raises(ProviderNotFound):
        provider.update_meeting("99999999999", _request())
    with pytest.raises(ProviderRejected):
        provider.cancel_meeting("not-a-number")


def _play_meeting(
    zoom: RunningZoom, meeting_id: str, people: int, uuid: str | None
) -> dict[str, list[tuple[datetime, datetime]]]:
    script: list[Start | Join | Leave | End] = [Start(START)]
    for i in range(people):
        person = ScriptPerson(f"Person {i}", f"p{i}@customer.example")
        script.append(Join(START + timedelta(seconds=10 + i), person))
    script.append(Join(START + timedelta(minutes=1), ScriptPerson("Dial-in")))
    script.append(Leave(START + timedelta(minutes=2), ScriptPerson("Dial-in")))
    script.append(End(START + timedelta(minutes=40)))
    summary = MeetingPlayer(zoom.state).play(int(meeting_id), script, instance_uuid=uuid)
    return {k: [(s.joined_at, s.left_at) for s in v] for k, v in summary.ground_truth.items()}


def _by_participant(sessions: tuple[ReportedSession, ...]) -> dict[str, list[tuple[datetime, datetime]]]:
    grouped: dict[str, list[tuple[datetime, datetime]]] = {}
    for s in sessions:
        grouped.setdefault(s.email or f"id:{s.provider_participant_id}", []).append((s.joined_at, s.left_at))
    return grouped


@pytest.mark.parametrize("uuid", ["/starts/with/slash==", "has//double==", "plain+uuid=="])
def test_attendance_report_pages_and_matches_ground_truth(zoom: RunningZoom, uuid: str) -> None:
    provider = _provider(zoom, report_page_size=4)
    meeting_id = provider.create_meeting(_request()).provider_meeting_id
    truth = _play_meeting(zoom, meeting_id, people=9, uuid=uuid)

    report = provider.fetch_attendance(meeting_id, instance=uuid)
    assert report.actual_start == START and report.actual_end == START + timedelta(minutes=40)
    assert len(report.sessions) == 10
    assert _by_participant(report.sessions) == truth
    assert any(path.endswith("%252F") or "%252F" in path for _, path in zoom.state.api_requests) == (
        uuid.startswith("/") or "//" in uuid
    )


def test_attendance_by_meeting_id_spans_every_instance(zoom: RunningZoom) -> None:
    """The host's connection drops and the meeting is started again: one meeting, two instances."""
    provider = _provider(zoom)
    meeting_id = provider.create_meeting(_request()).provider_meeting_id
    first = _play_meeting(zoom, meeting_id, people=1, uuid=None)
    restart = START + timedelta(hours=1)
    guest = ScriptPerson("Late Guest", "late@customer.example")
    MeetingPlayer(zoom.state).play(
        int(meeting_id),
        [Start(restart), Join(restart + timedelta(seconds=5), guest), End(restart + timedelta(minutes=10))],
    )
    report = provider.fetch_attendance(meeting_id)
    expected = {
        **first,
        "late@customer.example": [(restart + timedelta(seconds=5), restart + timedelta(minutes=10))],
    }
    assert _by_participant(report.sessions) == expected
    assert (report.actual_start, report.actual_end) == (START, restart + timedelta(minutes=10))
    # One instance on its own, by its uuid.
    latest = zoom.state.meeting(int(meeting_id)).instances[-1].uuid  # type: ignore[union-attr]
    only_latest = provider.fetch_attendance(meeting_id, instance=latest)
    assert _by_participant(only_latest.sessions) == {
        "late@customer.example": expected["late@customer.example"]
    }


def test_attendance_before_the_end_is_not_found(zoom: RunningZoom) -> None:
    provider = _provider(zoom)
    meeting_id = provider.create_meeting(_request()).provider_meeting_id
    MeetingPlayer(zoom.state).play(int(meeting_id), [Start(START)])
    with pytest.raises(ProviderNotFound):
        provider.fetch_attendance(meeting_id)


def test_a_meeting_whose_registrants_failed_is_finished_by_the_retry_not_made_twice(
    zoom: RunningZoom,
) -> None:
    customer = _request(kind=MeetingKind.CUSTOMER, external_emails=frozenset({"carol@customer.example"}))
    sent_at = datetime.now(UTC)
    zoom.state.faults.fail_next_on("/registrants", 10, status=503)
    with pytest.raises(ProviderCreateUnfinished) as caught:
        _provider(zoom, max_retries=1).create_meeting(customer)
    unfinished = caught.value
    assert unfinished.code == "provider_unavailable"  # the failed step's code, not a timeout
    made = zoom.state.meeting(int(unfinished.provider_meeting_id))
    assert made is not None and made.registrants == {}

    zoom.state.faults.clear()
    retried = _provider(zoom).create_meeting(replace(customer, maybe_created_since=sent_at))
    assert retried.provider_meeting_id == unfinished.provider_meeting_id
    assert len(zoom.state.meetings) == 1
    assert [r.email for r in retried.registrations] == ["carol@customer.example"]
    assert set(made.registrants) == {"carol@customer.example"}


def test_attendees_changed_by_an_update_are_registered_and_cancelled_on_zoom(zoom: RunningZoom) -> None:
    carol, dave = "carol@customer.example", "dave@customer.example"
    customer = _request(kind=MeetingKind.CUSTOMER, external_emails=frozenset({carol}))
    provider = _provider(zoom)
    created = provider.create_meeting(customer)
    assert [r.email for r in created.registrations] == [carol]
    carol_link = created.registrations[0].join_url

    changed = replace(customer, attendees=(Person(dave, "Dave"),), external_emails=frozenset({dave}))
    updated = provider.update_meeting(created.provider_meeting_id, changed)

    assert [r.email for r in updated.registrations] == [dave]
    assert updated.registrations[0].join_url != carol_link
    meeting = zoom.state.meeting(int(created.provider_meeting_id))
    assert meeting is not None
    assert {email: r.status for email, r in meeting.registrants.items()} == {
        carol: "cancelled",
        dave: "approved",
    }
    # Updating again with the same attendees changes nothing on Zoom.
    again = provider.update_meeting(created.provider_meeting_id, changed)
    assert again.registrations == updated.registrations
