"""The Google emulator's own rules, over plain HTTP: the JWT-bearer grant as Google checks it, the
Calendar's conference creation rules, Workspace Events validation and paging tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.sandbox.meet import ServiceAccount
from integrations.sandbox.meet.keys import GOOGLE_TOKEN_AUDIENCE
from tests.integrations.meet_support import DELEGATE, HOST, RunningGoogle, running_google

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CALENDAR = "https://www.googleapis.com/auth/calendar.events"
MEET = "https://www.googleapis.com/auth/meetings.space.readonly"


@pytest.fixture
def google() -> Iterator[RunningGoogle]:
    with running_google() as running:
        yield running


def _assertion(google: RunningGoogle, account: ServiceAccount | None = None, **claims: Any) -> str:
    account = account or google.state.config.service_account
    now = int(time.time())
    document: dict[str, Any] = {
        "iss": account.email,
        "scope": CALENDAR,
        "aud": GOOGLE_TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "sub": HOST.email,
    }
    document.update(claims)
    return account.key.sign({k: v for k, v in document.items() if v is not None})


def _grant(google: RunningGoogle, assertion: str, grant_type: str = JWT_BEARER) -> httpx.Response:
    return httpx.post(f"{google.url}/token", data={"grant_type": grant_type, "assertion": assertion})


def _token(google: RunningGoogle, scope: str = CALENDAR, subject: str = HOST.email) -> dict[str, str]:
    answer = _grant(google, _assertion(google, scope=scope, sub=subject))
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_valid_assertion_gets_a_token_for_the_impersonated_user(google: RunningGoogle) -> None:
    answer = _grant(google, _assertion(google))
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    (issued,) = google.state.tokens.values()
    assert issued.subject == HOST.email and issued.scopes == {CALENDAR}


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"aud": "http://127.0.0.1/token"}, "Invalid JWT: Failed audience check."),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "Invalid JWT: Token must be"),
        ({"exp": int(time.time()) + 7200}, "Invalid JWT: Token must be a short-lived token (60 minutes)"),
        ({"iss": "someone@else.iam.gserviceaccount.com"}, "Invalid JWT Signature."),
        ({"sub": "nobody@acme.example"}, "Invalid email or User ID"),
    ],
)
def test_assertions_google_would_refuse_are_refused(
    google: RunningGoogle, claims: dict[str, Any], description: str
) -> None:
    answer = _grant(google, _assertion(google, **claims))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_description"].startswith(description)
    assert google.state.tokens == {}


def test_an_assertion_signed_by_another_key_or_grant_is_refused(google: RunningGoogle) -> None:
    stranger = ServiceAccount.generate(name="stranger")
    assert _grant(google, _assertion(google, account=stranger)).json()["error"] == "invalid_grant"
    wrong_grant = _grant(google, _assertion(google), grant_type="client_credentials")
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    assert _grant(google, "not-a-jwt").status_code == 400


def test_calls_need_a_token_with_the_right_scope(google: RunningGoogle) -> None:
    events = f"{google.url}/calendar/v3/calendars/primary/events"
    assert httpx.post(events, json={}).status_code == 401
    meet_only = _token(google, scope=MEET)
    refused = httpx.post(events, json={}, headers=meet_only)
    assert (
        refused.status_code == 403
        and refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    )


def _event_body(request_id: str | None = "req-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "Demo",
        "start": {"dateTime": "2026-04-01T09:00:00Z"},
        "end": {"dateTime": "2026-04-01T09:30:00Z"},
        **extra,
    }
    if request_id is not None:
        body["conferenceData"] = {
            "createRequest": {"requestId": request_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}
        }
    return body


def test_a_conference_needs_conference_data_version_1(google: RunningGoogle) -> None:
    events = f"{google.url}/calendar/v3/calendars/primary/events"
    headers = _token(google)
    ignored = httpx.post(events, json=_event_body(), headers=headers).json()
    assert "conferenceData" not in ignored and "hangoutLink" not in ignored
    made = httpx.post(
        events, params={"conferenceDataVersion": "1"}, json=_event_body(), headers=headers
    ).json()
    assert made["conferenceData"]["createRequest"]["status"]["statusCode"] == "success"
    assert made["hangoutLink"] == f"https://meet.google.com/{made['conferenceData']['conferenceId']}"
    # The same requestId again on the event is ignored: no second conference.
    patched = httpx.patch(
        f"{events}/{made['id']}",
        params={"conferenceDataVersion": "1"},
        json={"conferenceData": _event_body()["conferenceData"]},
        headers=headers,
    ).json()
    assert patched["conferenceData"]["conferenceId"] == made["conferenceData"]["conferenceId"]
    assert google.state.conferences_created == 1


def test_client_event_ids_are_base32hex_and_unique(google: RunningGoogle) -> None:
    events = f"{google.url}/calendar/v3/calendars/primary/events"
    headers = _token(google)
    bad = httpx.post(events, json=_event_body(None, id="Not_Valid"), headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "Invalid resource id value."
    assert httpx.post(events, json=_event_body(None, id="abc123"), headers=headers).status_code == 200
    duplicate = httpx.post(events, json=_event_body(None, id="abc123"), headers=headers)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["errors"][0]["reason"] == "duplicate"
    assert httpx.delete(f"{events}/abc123", headers=headers).status_code == 204
    assert httpx.delete(f"{events}/abc123", headers=headers).status_code == 410
    assert httpx.post(events, json=_event_body(None, id="abc123"), headers=headers).status_code == 409


def test_another_users_calendar_is_not_found(google: RunningGoogle) -> None:
    other = f"{google.url}/calendar/v3/calendars/{DELEGATE.email}/events"
    assert httpx.post(other, json=_event_body(), headers=_token(google)).status_code == 404


def test_page_tokens_belong_to_their_listing(google: RunningGoogle) -> None:
    headers = _token(google, scope=MEET, subject=DELEGATE.email)
    space = google.state.add_space(HOST)
    for minute in range(3):
        google.state.add_record(space, google.state.now().replace(minute=minute))
    listing = f"{google.url}/v2/conferenceRecords"
    first = httpx.get(listing, params={"pageSize": 2}, headers=headers).json()
    assert len(first["conferenceRecords"]) == 2 and first["nextPageToken"]
    bad_filter = httpx.get(listing, params={"filter": "nonsense"}, headers=headers)
    assert bad_filter.status_code == 400 and bad_filter.json()["error"]["status"] == "INVALID_ARGUMENT"
    reused = httpx.get(
        listing,
        params={"pageToken": first["nextPageToken"], "filter": f'space.name = "{space.name}"'},
        headers=headers,
    )
    assert reused.status_code == 400
    second = httpx.get(listing, params={"pageSize": 2, "pageToken": first["nextPageToken"]}, headers=headers)
    assert len(second.json()["conferenceRecords"]) == 1 and "nextPageToken" not in second.json()


def test_subscriptions_are_validated(google: RunningGoogle) -> None:
    headers = _token(google, scope=MEET)
    url = f"{google.url}/v1/subscriptions"
    good: dict[str, Any] = {
        "targetResource": f"//cloudidentity.googleapis.com/users/{HOST.id}",
        "eventTypes": ["google.workspace.meet.participant.v2.joined"],
        "notificationEndpoint": {"pubsubTopic": "projects/p/topics/t"},
        "ttl": "3600s",
    }
    for broken in (
        {"targetResource": "//cloudidentity.googleapis.com/users/unknown"},
        {"eventTypes": ["google.workspace.chat.message.v1.created"]},
        {"notificationEndpoint": {"pubsubTopic": "not-a-topic"}},
        {"ttl": "30d"},
    ):
        answer = httpx.post(url, json={**good, **broken}, headers=headers)
        assert answer.status_code == 400, broken
    made = httpx.post(url, json=good, headers=headers).json()
    assert made["done"] is True and made["response"]["state"] == "ACTIVE"
    again = httpx.post(url, json=good, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"
