"""Bad input gets a clear 4xx with a stable code: never a 500, never a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import module_postgres_url
from tests.support import RunningService, auth, meeting_body, running_service


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """One running service per database for the module (PostgreSQL: a fresh schema, dropped after)."""
    if request.param == "sqlite":
        with running_service(f"sqlite:///{tmp_path_factory.mktemp('db')}/bad.db") as running:
            yield running
        return
    with module_postgres_url() as url, running_service(url) as running:
        yield running


def fields(response: object) -> set[str]:
    return {d["field"] for d in response.json()["details"]}  # type: ignore[attr-defined]


def post(svc: RunningService, body: object) -> object:
    return svc.client.post("/v1/meetings", json=body, headers=auth())


def test_malformed_json(svc: RunningService) -> None:
    r = svc.client.post(
        "/v1/meetings", content=b'{"title": ', headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {
        "code": "malformed_json",
        "message": "the request body is not valid JSON",
        "details": [],
    }


def test_a_json_body_that_is_not_utf8_is_malformed_json(svc: RunningService) -> None:
    r = svc.client.post(
        "/v1/meetings", content=b'{"title": "\xff"}', headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_json"


def test_a_patch_whose_email_outgrows_its_column_when_lower_cased_changes_nothing_anywhere(
    svc: RunningService,
) -> None:
    created = post(svc, meeting_body(external_ref={"system": "x", "id": "lower-cased-growth"}))
    meeting = created.json()  # type: ignore[attr-defined]
    zoom_meeting = svc.zoom.meetings[int(meeting["provider_meeting_id"])]
    before = (zoom_meeting.topic, zoom_meeting.settings.get("meeting_invitees"))

    r = svc.client.patch(
        f"/v1/meetings/{meeting['id']}",
        json={"title": "Changed", "attendees": [{"email": "İ" * 300 + "@x.example"}]},  # 310 chars, 610 lower
        headers=auth(),
    )

    assert r.status_code == 422, r.text
    assert fields(r) == {"attendees.0.email"}
    zoom_meeting = svc.zoom.meetings[int(meeting["provider_meeting_id"])]
    assert (zoom_meeting.topic, zoom_meeting.settings.get("meeting_invitees")) == before
    assert svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth()).json()["title"] == "Discovery call"


def test_every_field_error_is_reported_at_once(svc: RunningService) -> None:
    body = meeting_body(duration_minutes="long", timezone="Mars/Olympus", unknown=1, title="")
    r = post(svc, body)
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert r.json()["code"] == "validation_error"  # type: ignore[attr-defined]
    assert fields(r) == {"duration_minutes", "timezone", "unknown", "title"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start": "2026-12-01T10:00:00"}, "start"),  # no offset: ambiguous instant
        ({"start": "next tuesday"}, "start"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"organizer": {"email": "not-an-email"}}, "organizer.email"),
        ({"attendees": "bob"}, "attendees"),
        ({"provider": "webex"}, "provider"),
        ({"kind": "partner"}, "kind"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": True}, "duration_minutes"),  # not a 1-minute meeting
        ({"duration_minutes": "30"}, "duration_minutes"),
        ({"start": 1796205600}, "start"),  # epoch seconds: JSON has no instant type
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "posixrules"}, "timezone"),
        ({"timezone": "Factory"}, "timezone"),
        ({"timezone": "right/UTC"}, "timezone"),
        ({"attendees": [{"email": "bob@customer.example", "required": "yes"}]}, "attendees.0.required"),
        ({"attendees": [{"email": "İ" * 300 + "@x.example"}]}, "attendees.0.email"),  # 610 lower-cased
    ],
)
def test_field_errors(svc: RunningService, overrides: dict[str, object], field: str) -> None:
    r = post(svc, meeting_body(**overrides))
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    assert field in fields(r)


def test_end_before_start(svc: RunningService) -> None:
    body = meeting_body(end="2026-12-01T09:00:00+01:00")
    del body["duration_minutes"]
    r = post(svc, body)
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert r.json()["details"][0]["field"] == "end"  # type: ignore[attr-defined]


def test_end_instead_of_duration(svc: RunningService) -> None:
    body = meeting_body(end="2026-12-01T11:15:00+01:00", external_ref={"system": "x", "id": "end"})
    del body["duration_minutes"]
    r = post(svc, body)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert r.json()["duration_minutes"] == 75  # type: ignore[attr-defined]


def test_organizer_must_be_internal(svc: RunningService) -> None:
    r = post(svc, meeting_body(organizer={"email": "someone@customer.example"}))
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert r.json()["details"][0]["code"] == "organizer_not_internal"  # type: ignore[attr-defined]


def test_body_must_be_an_object(svc: RunningService) -> None:
    r = post(svc, [1, 2, 3])
    assert r.status_code == 422  # type: ignore[attr-defined]


def test_huge_bodies_are_refused(svc: RunningService) -> None:
    big = meeting_body(agenda="x" * (2 * 1024 * 1024))
    r = post(svc, big)
    assert r.status_code == 413  # type: ignore[attr-defined]
    assert r.json()["code"] == "payload_too_large"  # type: ignore[attr-defined]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b"x" * 65536

    r = svc.client.post(
        "/v1/meetings", content=chunks(), headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 413


def test_unknown_meeting_and_route(svc: RunningService) -> None:
    r = svc.client.get("/v1/meetings/does-not-exist", headers=auth())
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = svc.client.get("/v1/nothing-here", headers=auth())
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = svc.client.put("/v1/meetings", headers=auth())
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_wrong_types_in_query(svc: RunningService) -> None:
    r = svc.client.get("/v1/meetings", params={"limit": "many", "from": "yesterday"}, headers=auth())
    assert r.status_code == 422
    assert fields(r) == {"limit", "from"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start": "0001-01-01T00:00:00+01:00"}, "start"),
        ({"start": "9999-12-31T23:50:00-01:00"}, "start"),
        ({"title": "Demo\u0000call"}, "title"),
        ({"external_ref": {"system": "crm", "id": "a\u0000b"}}, "external_ref.id"),
        ({"organizer": {"email": "host@acme.example", "name": "\u0000"}}, "organizer.name"),
    ],
)
def test_values_no_database_can_hold_are_422(
    svc: RunningService, overrides: dict[str, object], field: str
) -> None:
    r = post(svc, meeting_body(**overrides))
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    assert field in fields(r)


def test_end_cannot_stretch_a_meeting_past_a_day(svc: RunningService) -> None:
    body = meeting_body(end="9999-01-01T00:00:00+00:00", external_ref={"system": "x", "id": "long"})
    del body["duration_minutes"]
    assert post(svc, body).status_code == 422  # type: ignore[attr-defined]
    body["end"] = "2026-12-02T10:01:00+01:00"  # 24 h 1 min
    r = post(svc, body)
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "at most 1440 minutes" in r.json()["details"][0]["message"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "params",
    [
        {"organizer": "a\x00b"},
        {"external_id": "\x00"},
        {"from": "0001-01-01T00:00:00+01:00"},
        {"to": "9999-12-31T23:59:59-01:00"},
        {
            "cursor": "WyIyMDI2LTEyLTAxVDEwOjAwOjAwKzAwOjAwIiwgIlx1MDAwMCJd"
        },  # ["2026-12-01T10:00:00+00:00", "\u0000"]
    ],
)
def test_query_values_no_database_can_hold_are_422(svc: RunningService, params: dict[str, str]) -> None:
    r = svc.client.get("/v1/meetings", params=params, headers=auth())
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("meeting_id", ["%00", "not-a-uuid", "1" * 300])
def test_ids_that_cannot_name_a_meeting_are_404(svc: RunningService, meeting_id: str) -> None:
    for path in (f"/v1/meetings/{meeting_id}", f"/v1/meetings/{meeting_id}/attendance"):
        r = svc.client.get(path, headers=auth())
        assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
    assert (
        svc.client.patch(f"/v1/meetings/{meeting_id}", json={"title": "x"}, headers=auth()).status_code == 404
    )
    assert svc.client.delete(f"/v1/meetings/{meeting_id}", headers=auth()).status_code == 404
