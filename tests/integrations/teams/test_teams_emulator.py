"""The Teams emulator is as strict as Graph and Entra: wrong credentials, scopes, tokens, paths,
bodies and subscriptions are refused as they refuse them; paging and faults behave."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from integrations.base import ProviderUnavailable
from integrations.sandbox.server import serve_in_thread
from integrations.sandbox.teams import (
    GRAPH_SCOPE,
    End,
    Join,
    MeetingPlayer,
    NotificationFaults,
    PersonKind,
    ScriptPerson,
    Start,
)
from integrations.sandbox.teams.notifications import Notification, plan_deliveries
from integrations.teams.adapter import TeamsProvider
from tests.integrations.teams.conftest import HOST, RunningTeams, past


@pytest.fixture
def graph(teams: RunningTeams) -> Iterator[tuple[httpx.Client, str]]:
    """A raw HTTPS client trusting the emulator's CA, and a valid token got through msal."""
    provider = TeamsProvider(teams.settings(), "right-secret")
    token = provider.api.token()
    provider.close()
    with httpx.Client(
        base_url=teams.url, verify=ssl.create_default_context(cafile=str(teams.ca_file)), timeout=15
    ) as client:
        yield client, token


def _token_form(teams: RunningTeams, **changes: str) -> dict[str, str]:
    config = teams.state.config
    form = {
        "grant_type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "scope": GRAPH_SCOPE,
    }
    form.update(changes)
    return form


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"scope": "https://graph.microsoft.com/User.Read"}, 400, "invalid_scope"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_id": "someone-else"}, 400, "unauthorized_client"),
        ({"client_secret": "guess"}, 401, "invalid_client"),
    ],
)
def test_the_token_endpoint_refuses_as_entra_does(
    teams: RunningTeams, graph: tuple[httpx.Client, str], changes: dict[str, str], status: int, error: str
) -> None:
    client, _ = graph
    tenant = teams.state.config.tenant_id
    answer = client.post(f"/{tenant}/oauth2/v2.0/token", data=_token_form(teams, **changes))
    assert answer.status_code == status and answer.json()["error"] == error
    assert answer.json()["error_description"].startswith("AADSTS")


def test_graph_refuses_missing_unknown_and_expired_tokens(
    teams: RunningTeams, graph: tuple[httpx.Client, str]
) -> None:
    client, token = graph
    path = f"/v1.0/users/{HOST.id}"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer forged"}).json()["error"]["code"] == (
        "InvalidAuthenticationToken"
    )
    assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    teams.state.expire_all_tokens()
    expired = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


VALID = {
    "externalId": "mtg_x",
    "subject": "s",
    "startDateTime": "2026-04-01T09:00:00Z",
    "endDateTime": "2026-04-01T10:00:00Z",
}


@pytest.mark.parametrize(
    ("user", "body", "status"),
    [
        (HOST.id, {k: v for k, v in VALID.items() if k != "externalId"}, 400),
        (HOST.id, {**VALID, "lobbyBypass": True}, 400),
        (HOST.id, {k: v for k, v in VALID.items() if k != "endDateTime"}, 400),
        (HOST.id, {**VALID, "endDateTime": "2026-04-01T08:00:00Z"}, 400),
        (HOST.id, {**VALID, "startDateTime": "2026-04-01T09:00:00"}, 400),  # no offset
        (HOST.id, {**VALID, "participants": {"attendees": [{"upn": "x@y.example", "role": "boss"}]}}, 400),
        (HOST.upn, VALID, 400),  # app-only calls take the object id, not the UPN
        ("00000000-0000-4000-8000-000000000000", VALID, 404),
        (HOST.id, VALID, 201),
    ],
)
def test_create_or_get_is_strict(
    graph: tuple[httpx.Client, str], user: str, body: dict[str, Any], status: int
) -> None:
    client, token = graph
    answer = client.post(
        f"/v1.0/users/{user}/onlineMeetings/createOrGet",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == status, answer.text
    if status >= 400:
        assert set(answer.json()["error"]) >= {"code", "message", "innerError"}


def test_a_meeting_is_only_reachable_under_its_organizer_and_external_id_is_not_updatable(
    teams: RunningTeams, graph: tuple[httpx.Client, str]
) -> None:
    client, token = graph
    headers = {"Authorization": f"Bearer {token}"}
    made = client.post(
        f"/v1.0/users/{HOST.id}/onlineMeetings/createOrGet", json=VALID, headers=headers
    ).json()
    other = teams.state.config.users[1]
    assert (
        client.get(f"/v1.0/users/{other.id}/onlineMeetings/{made['id']}", headers=headers).status_code == 404
    )
    path = f"/v1.0/users/{HOST.id}/onlineMeetings/{made['id']}"
    assert client.patch(path, json={"externalId": "other"}, headers=headers).status_code == 400
    assert (
        client.patch(path, json={"startDateTime": VALID["startDateTime"]}, headers=headers).status_code == 400
    )
    found = client.get(
        f"/v1.0/users/{HOST.id}/onlineMeetings",
        params={"$filter": f"JoinWebUrl eq '{made['joinWebUrl']}'"},
        headers=headers,
    ).json()["value"]
    assert [m["id"] for m in found] == [made["id"]]


def _subscription(url: str, expires_in: object = timedelta(hours=1), **changes: object) -> dict[str, object]:
    """A subscription body; `expires_in` is counted from now, when the request is made."""
    assert isinstance(expires_in, timedelta)
    body: dict[str, object] = {
        "changeType": "created",
        "notificationUrl": url,
        "resource": "/communications/callRecords",
        "expirationDateTime": (datetime.now(UTC) + expires_in).isoformat(),
        "clientState": "s",
    }
    body.update(changes)
    return body


@pytest.fixture
def wrong_echo() -> Iterator[str]:
    """An endpoint that answers the handshake, but not with the token as text/plain."""
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        return Response('{"ok": true}', media_type="application/json")

    with serve_in_thread(app) as server:
        yield f"{server.url}/hook"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expires_in": timedelta(minutes=4231)}, "4230 minutes"),
        ({"expires_in": timedelta(minutes=-1)}, "in the future"),
        ({"notificationUrl": "http://hooks.example/webhooks/teams"}, "https"),
        ({"resource": "/me/events"}, "not supported"),
        ({"changeType": "deleted"}, "changeType"),
        ({"clientState": "x" * 129}, "128"),
        ({}, "validation request failed"),
    ],
)
def test_subscriptions_are_refused_as_graph_refuses_them(
    teams: RunningTeams,
    graph: tuple[httpx.Client, str],
    wrong_echo: str,
    changes: dict[str, object],
    message: str,
) -> None:
    client, token = graph
    answer = client.post(
        "/v1.0/subscriptions",
        json=_subscription(wrong_echo, **changes),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    assert teams.state.subscriptions == {}


def test_call_record_sessions_are_paged(start_teams: Callable[..., RunningTeams]) -> None:
    teams = start_teams(page_size=2)
    provider = TeamsProvider(teams.settings(), "right-secret")
    try:
        meeting = teams.state.add_meeting(HOST, subject="s", start=past(0), end=past(30))
        people = [ScriptPerson(f"Guest {i}", PersonKind.GUEST) for i in range(5)]
        summary = MeetingPlayer(teams.state).play(
            meeting.id, [Start(past(0)), *(Join(past(i + 1), p) for i, p in enumerate(people)), End(past(30))]
        )
        path = f"communications/callRecords/{summary.call_record_id}"
        first = provider.api.call("GET", path, params={"$expand": "sessions($expand=segments)"}).json()
        assert len(first["sessions"]) == 2 and "sessions@odata.nextLink" in first
        sessions = provider.all_pages(path, first=first, key="sessions")
        assert sorted(s["caller"]["identity"]["guest"]["displayName"] for s in sessions) == [
            p.name for p in people
        ]
    finally:
        provider.close()


def test_injected_latency_beyond_the_timeout_is_unavailable(teams: RunningTeams) -> None:
    provider = TeamsProvider(
        teams.settings(timeout_seconds=0.3, max_retries=1), "right-secret", sleep=lambda _: None
    )
    try:
        provider.api.token()
        teams.state.faults.latency_seconds = 1.0
        with pytest.raises(ProviderUnavailable):
            provider.user_id(HOST.upn)
    finally:
        teams.state.faults.clear()
        provider.close()


def test_notification_faults_are_seeded() -> None:
    notifications = [Notification("http://x/h", {"n": i}) for i in range(20)]
    faults = NotificationFaults(drop_rate=0.3, duplicate_rate=0.3, shuffle=True, seed=9)
    first = plan_deliveries(notifications, faults, batch_size=3)
    assert first == plan_deliveries(notifications, faults, batch_size=3)
    batches, dropped = first
    posted = [item for _, items in batches for item in items]
    assert dropped and len(posted) > 20 - len(dropped) and all(len(items) <= 3 for _, items in batches)
    assert posted != sorted(posted, key=lambda item: item["n"])  # shuffled
