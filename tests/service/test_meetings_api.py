"""The CRM's /v1/meetings contract, end to end over HTTP, on SQLite and PostgreSQL, with the Zoom emulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from service.domain.meeting import ExternalRef, MeetingKind, MeetingOrigin, Person, Schedule
from service.storage import meetings_repo
from tests.support import ADMIN_KEY, CRM_KEY, REPORTS_KEY, RunningService, auth, meeting_body, running_service


@pytest.fixture
def svc(database_url: str) -> RunningService:
    with running_service(database_url) as running:
        yield running


def create(svc: RunningService, **overrides: object) -> httpx.Response:
    return svc.client.post("/v1/meetings", json=meeting_body(**overrides), headers=auth())


def test_create_returns_the_meeting_with_its_join_url(svc: RunningService) -> None:
    response = create(svc)
    assert response.status_code == 201, response.text
    meeting = response.json()
    assert meeting["provider"] == "zoom"
    assert meeting["status"] == "scheduled"
    assert meeting["join_url"].startswith("https://")
    assert meeting["start_url"] is None  # host-only link, never shown to a CRM key
    assert meeting["kind"] == "customer" and meeting["kind_derived"] is True
    # Bob is external, so Zoom registers him and he gets his own link (issue 10).
    (bob,) = meeting["attendees"]
    assert bob["join_url"].startswith("https://") and bob["join_url"] != meeting["join_url"]
    assert {k: v for k, v in bob.items() if k != "join_url"} == {
        "email": "bob@customer.example",
        "name": "Bob",
        "required": True,
        "classification": "external",
    }
    assert meeting["start"] == "2026-12-01T10:00:00+01:00"
    zoom_meeting = svc.zoom.meetings[int(meeting["provider_meeting_id"])]
    assert zoom_meeting.start_time == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert zoom_meeting.host.email == "host@acme.example"

    as_admin = svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth(ADMIN_KEY)).json()
    assert as_admin["start_url"]


def test_kind_is_internal_when_every_attendee_is_internal(svc: RunningService) -> None:
    response = create(svc, attendees=[{"email": "ann@EU.Acme.Example"}])
    assert response.json()["kind"] == "internal"
    assert response.json()["attendees"][0]["classification"] == "internal"


def test_a_retried_create_returns_the_same_meeting_and_calls_zoom_once(svc: RunningService) -> None:
    first = create(svc)
    second = create(svc)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert len(svc.zoom.meetings) == 1


def test_twenty_concurrent_identical_creates_make_one_meeting(svc: RunningService) -> None:
    with ThreadPoolExecutor(20) as pool:
        responses = list(
            pool.map(lambda _: create(svc, external_ref={"system": "sf", "id": "race"}), range(20))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(svc.zoom.meetings) == 1
    listed = svc.client.get("/v1/meetings", params={"external_system": "sf"}, headers=auth()).json()
    assert len(listed["items"]) == 1


def test_a_provider_refusal_is_a_502_and_leaves_nothing_behind(svc: RunningService) -> None:
    svc.zoom.faults.fail_next(1, 400)  # Zoom refuses the create
    response = create(svc)
    assert response.status_code == 502
    assert response.json()["code"] == "provider_rejected"
    assert svc.client.get("/v1/meetings", headers=auth()).json()["items"] == []
    assert create(svc).status_code == 201  # the external_ref is free again


def test_update_changes_the_same_zoom_meeting(svc: RunningService) -> None:
    meeting = create(svc).json()
    response = svc.client.patch(
        f"/v1/meetings/{meeting['id']}",
        json={"title": "Demo", "start": "2026-12-02T15:30:00+01:00", "duration_minutes": 45},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["provider_meeting_id"] == meeting["provider_meeting_id"]
    zoom_meeting = svc.zoom.meetings[int(meeting["provider_meeting_id"])]
    assert (zoom_meeting.topic, zoom_meeting.duration) == ("Demo", 45)
    assert zoom_meeting.start_time == datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
    assert len(svc.zoom.meetings) == 1


def test_cancel_deletes_on_zoom_and_keeps_the_meeting_as_cancelled(svc: RunningService) -> None:
    meeting = create(svc).json()
    response = svc.client.delete(f"/v1/meetings/{meeting['id']}", headers=auth())
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert int(meeting["provider_meeting_id"]) not in svc.zoom.meetings
    again = svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth()).json()
    assert again["status"] == "cancelled"
    assert svc.client.delete(f"/v1/meetings/{meeting['id']}", headers=auth()).status_code == 200
    patch = svc.client.patch(f"/v1/meetings/{meeting['id']}", json={"title": "x"}, headers=auth())
    assert patch.status_code == 409 and patch.json()["code"] == "conflict"


def test_times_cross_a_dst_change_as_the_same_instant(svc: RunningService) -> None:
    # 02:30 on 29 March 2026 does not exist in Berlin; 03:30+02:00 does and is 01:30 UTC.
    spring = create(
        svc, external_ref={"system": "t", "id": "spring"}, start="2026-03-29T03:30:00+02:00"
    ).json()
    assert svc.zoom.meetings[int(spring["provider_meeting_id"])].start_time == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # Given in UTC, shown back in the meeting's zone with that day's offset.
    autumn = create(svc, external_ref={"system": "t", "id": "autumn"}, start="2026-10-25T09:00:00Z").json()
    assert autumn["start"] == "2026-10-25T10:00:00+01:00"
    moved = svc.client.patch(
        f"/v1/meetings/{autumn['id']}", json={"start": "2026-10-24T10:00:00+02:00"}, headers=auth()
    ).json()
    assert moved["start"] == "2026-10-24T10:00:00+02:00"
    assert svc.zoom.meetings[int(autumn["provider_meeting_id"])].start_time == datetime(
        2026, 10, 24, 8, 0, tzinfo=UTC
    )


def test_list_filters_and_paginates(svc: RunningService) -> None:
    for i in range(5):
        create(
            svc,
            external_ref={"system": "crm", "id": f"m{i}"},
            start=f"2026-12-0{i + 1}T10:00:00+01:00",
            attendees=[] if i % 2 else [{"email": "c@customer.example"}],
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = svc.client.get("/v1/meetings", params=params, headers=auth()).json()
        seen += [m["external_ref"]["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["m0", "m1", "m2", "m3", "m4"]
    internal = svc.client.get("/v1/meetings", params={"kind": "internal"}, headers=auth()).json()
    assert [m["external_ref"]["id"] for m in internal["items"]] == ["m1", "m3"]
    window = svc.client.get(
        "/v1/meetings", params={"from": "2026-12-02T00:00:00Z", "to": "2026-12-04T00:00:00Z"}, headers=auth()
    ).json()
    assert [m["external_ref"]["id"] for m in window["items"]] == ["m1", "m2"]
    by_ref = svc.client.get(
        "/v1/meetings", params={"external_system": "crm", "external_id": "m3"}, headers=auth()
    ).json()
    assert [m["external_ref"]["id"] for m in by_ref["items"]] == ["m3"]
    bad = svc.client.get("/v1/meetings", params={"cursor": "garbage"}, headers=auth())
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"


@pytest.mark.parametrize(
    ("method", "path", "key", "expected"),
    [
        ("POST", "/v1/meetings", None, 401),
        ("POST", "/v1/meetings", "wrong-key", 401),
        ("POST", "/v1/meetings", REPORTS_KEY, 403),
        ("GET", "/v1/meetings", None, 401),
        ("GET", "/v1/meetings", REPORTS_KEY, 200),
        ("GET", "/v1/admin/providers", CRM_KEY, 403),
        ("GET", "/v1/admin/providers", REPORTS_KEY, 403),
        ("GET", "/v1/admin/providers", ADMIN_KEY, 200),
        ("POST", "/v1/meetings", ADMIN_KEY, 201),
    ],
)
def test_keys_and_scopes(svc: RunningService, method: str, path: str, key: str | None, expected: int) -> None:
    headers = auth(key) if key else {}
    body = meeting_body() if method == "POST" else None
    response = svc.client.request(method, path, json=body, headers=headers)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.json()["code"] == {401: "unauthorized", 403: "forbidden"}[expected]


def test_webhooks_and_health_need_no_key(svc: RunningService) -> None:
    assert svc.client.get("/healthz").status_code == 200
    assert svc.client.get("/readyz").json() == {"status": "ok"}
    unsigned = svc.client.post("/webhooks/zoom", content=b"{}")
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "missing_signature"
    metrics = svc.client.get("/metrics").text
    assert 'salesmeet_webhooks_total{outcome="missing_signature",provider="zoom"}' in metrics


def test_admin_sees_zoom_credential_health(svc: RunningService) -> None:
    providers = svc.client.get("/v1/admin/providers", headers=auth(ADMIN_KEY)).json()
    assert providers[0]["provider"] == "zoom"
    assert providers[0]["token_obtainable"] is True
    assert providers[0]["sandbox"] is True
    assert providers[0]["last_error"] is None

    svc.zoom.faults.fail_next(1, 400)
    assert create(svc).status_code == 502
    providers = svc.client.get("/v1/admin/providers", headers=auth(ADMIN_KEY)).json()
    assert providers[0]["last_error"].startswith("provider_rejected:")
    assert providers[0]["last_error_at"] is not None

    generated = svc.zoom.config.client_secret
    svc.zoom.expire_all_tokens()  # revoked credentials show before a meeting fails
    svc.zoom.config = replace(svc.zoom.config, client_secret="rotated-elsewhere")
    providers = svc.client.get("/v1/admin/providers", headers=auth(ADMIN_KEY)).json()
    assert providers[0]["token_obtainable"] is False
    assert "rotated-elsewhere" not in str(providers) and generated not in str(providers)


def test_the_openapi_document_describes_the_api(svc: RunningService) -> None:
    spec = svc.client.get("/openapi.json").json()
    assert {"/v1/meetings", "/v1/meetings/{meeting_id}", "/v1/meetings/{meeting_id}/attendance"} <= set(
        spec["paths"]
    )
    assert svc.client.get("/docs").status_code == 200


def test_every_meeting_route_checks_key_and_scope_before_the_body(svc: RunningService) -> None:
    meeting = create(svc).json()
    base = f"/v1/meetings/{meeting['id']}"
    writes = [("POST", "/v1/meetings"), ("PATCH", base), ("DELETE", base)]
    reads = [("GET", base), ("GET", f"{base}/attendance"), ("GET", "/v1/meetings")]
    too_big = b"x" * (2 * 1024 * 1024)
    assert svc.client.post("/v1/meetings", content=too_big).status_code == 401  # the key before the size
    for method, path in writes + reads:
        # No key: 401 even for a body that is not JSON at all.
        r = svc.client.request(
            method, path, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 401, (method, path, r.text)
    for method, path in writes:
        # A reports key may not write, and learns nothing about the body's shape.
        r = svc.client.request(method, path, json={"title": ""}, headers=auth(REPORTS_KEY))
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), (method, path)
    for method, path in reads:
        assert svc.client.request(method, path, headers=auth(REPORTS_KEY)).status_code == 200, (method, path)


def test_concurrent_changes_leave_zoom_and_salesmeet_agreeing(svc: RunningService) -> None:
    meeting = create(svc).json()
    path = f"/v1/meetings/{meeting['id']}"

    def patch(i: int) -> int:
        body = {"title": f"Take {i}", "duration_minutes": 30 + i}
        return svc.client.patch(path, json=body, headers=auth()).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(patch, range(16))) == {200}
    ours = svc.client.get(path, headers=auth()).json()
    zoom_meeting = svc.zoom.meetings[int(meeting["provider_meeting_id"])]
    assert (zoom_meeting.topic, zoom_meeting.duration) == (ours["title"], ours["duration_minutes"])


def test_a_claim_left_by_a_crashed_request_is_taken_over(svc: RunningService) -> None:
    with svc.runtime.db.write() as conn:  # what a request that died after claiming leaves behind
        meetings_repo.insert_claim(
            conn,
            meeting_id="00000000-0000-4000-8000-000000000001",
            origin=MeetingOrigin.API,
            title="Discovery call",
            agenda=None,
            kind=MeetingKind.CUSTOMER,
            kind_derived=True,
            schedule=Schedule(datetime(2026, 12, 1, 9, tzinfo=UTC), 30, "Europe/Berlin"),
            organizer=Person("host@acme.example"),
            attendees=(),
            external_ref=ExternalRef("hubspot", "deal-1"),
            now=datetime.now(UTC) - timedelta(minutes=10),
        )
    response = create(svc)
    assert response.status_code == 201, response.text
    assert response.json()["id"] != "00000000-0000-4000-8000-000000000001"
    assert len(svc.zoom.meetings) == 1
