"""The Zoom emulator refuses what Zoom refuses (raw HTTP, no SDK in between)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from integrations.sandbox.zoom import End, Join, ManualClock, MeetingPlayer, ScriptPerson, Start
from tests.integrations.conftest import RunningZoom


def _token(zoom: RunningZoom, *, secret: str | None = None) -> httpx.Response:
    config = zoom.state.config
    return httpx.post(
        f"{zoom.url}/oauth/token",
        params={"grant_type": "account_credentials", "account_id": config.account_id},
        auth=(config.client_id, secret or config.client_secret),
    )


def _api(zoom: RunningZoom) -> httpx.Client:
    token = _token(zoom).json()["access_token"]
    return httpx.Client(base_url=f"{zoom.url}/v2", headers={"Authorization": f"Bearer {token}"})


MEETING = {"topic": "Discovery call", "type": 2, "start_time": "2026-04-01T09:00:00Z", "duration": 30}


def test_token_answer_has_zoom_fields_and_accepts_a_form_body(zoom: RunningZoom) -> None:
    by_query = _token(zoom).json()
    config = zoom.state.config
    by_form = httpx.post(
        f"{zoom.url}/oauth/token",
        content=f"grant_type=account_credentials&account_id={config.account_id}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(config.client_id, config.client_secret),
    ).json()
    for answer in (by_query, by_form):
        assert answer["token_type"] == "bearer"
        assert answer["expires_in"] == 3600
        assert answer["scope"] and answer["api_url"] == zoom.url
    assert by_query["access_token"] != by_form["access_token"]


def test_wrong_secret_is_refused_like_zoom(zoom: RunningZoom) -> None:
    answer = _token(zoom, secret="wrong")
    assert answer.status_code == 401
    assert answer.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_missing_or_invalid_bearer_token_is_code_124(zoom: RunningZoom, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = httpx.get(f"{zoom.url}/v2/meetings/123", headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"code": 124, "message": "Invalid access token."}


def test_tokens_expire_on_the_emulator_clock(
    start_zoom: Callable[..., RunningZoom], clock: ManualClock
) -> None:
    zoom = start_zoom(clock=clock, token_expires_in=600)
    with _api(zoom) as api:
        assert api.post("/users/me/meetings", json=MEETING).status_code == 201
        clock.advance(timedelta(seconds=601))
        answer = api.post("/users/me/meetings", json=MEETING)
    assert answer.status_code == 401
    assert answer.json() == {"code": 124, "message": "Access token is expired."}


def test_expire_all_tokens_now(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        zoom.state.expire_all_tokens()
        assert api.get("/meetings/1").json()["message"] == "Access token is expired."


def test_create_answers_zoom_shape_and_accepts_unknown_fields(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        answer = api.post("/users/alice@acme.example/meetings", json={**MEETING, "user_id": "x"})
    assert answer.status_code == 201
    meeting = answer.json()
    assert isinstance(meeting["id"], int)
    assert meeting["host_email"] == "alice@acme.example"
    assert meeting["status"] == "waiting"
    assert meeting["start_time"] == "2026-04-01T09:00:00Z"
    assert meeting["join_url"].startswith("https://") and meeting["start_url"]
    assert {"uuid", "password", "settings", "created_at", "timezone", "agenda"} <= meeting.keys()


def test_local_start_time_is_read_in_the_meeting_time_zone(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        body = {**MEETING, "start_time": "2026-07-01T10:00:00", "timezone": "Europe/Berlin"}
        meeting = api.post("/users/me/meetings", json=body).json()
    assert meeting["start_time"] == "2026-07-01T08:00:00Z"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_time": "2026-04-01 09:00"}, "start_time"),
        ({"start_time": "2026-02-30T09:00:00Z"}, "start_time"),
        ({"start_time": None, "type": 2}, "start_time"),
        ({"type": 5}, "type"),
        ({"duration": 0}, "duration"),
        ({"duration": "30"}, "duration"),
        ({"topic": "x" * 201}, "topic"),
        ({"agenda": "x" * 2001}, "agenda"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_fields_are_code_300(zoom: RunningZoom, change: dict[str, object], field: str) -> None:
    body = {k: v for k, v in {**MEETING, **change}.items() if v is not None}
    with _api(zoom) as api:
        answer = api.post("/users/me/meetings", json=body)
    assert answer.status_code == 400
    assert answer.json()["code"] == 300
    assert answer.json()["errors"][0]["field"] == field


def test_unknown_user_is_code_1001(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        answer = api.post("/users/nobody@acme.example/meetings", json=MEETING)
    assert answer.status_code == 404
    assert answer.json()["code"] == 1001


def test_patch_is_partial_and_delete_removes(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        meeting_id = api.post("/users/me/meetings", json=MEETING).json()["id"]
        assert api.patch(f"/meetings/{meeting_id}", json={"topic": "Renamed"}).status_code == 204
        read = api.get(f"/meetings/{meeting_id}").json()
        assert (read["topic"], read["duration"]) == ("Renamed", 30)
        assert api.delete(f"/meetings/{meeting_id}").status_code == 204
        assert api.get(f"/meetings/{meeting_id}").json()["code"] == 3001
        assert api.delete(f"/meetings/{meeting_id}").status_code == 404
        assert api.patch(f"/meetings/{meeting_id}", json={"topic": "x"}).json()["code"] == 3001


def test_meeting_in_progress_cannot_be_deleted(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        meeting = api.post("/users/me/meetings", json=MEETING).json()
        MeetingPlayer(zoom.state).play(meeting["id"], [Start(_at("2026-04-01T09:00:00Z"))])
        answer = api.delete(f"/meetings/{meeting['id']}")
    assert answer.status_code == 400
    assert answer.json()["code"] == 3002


def test_daily_create_update_limit(start_zoom: Callable[..., RunningZoom], clock: ManualClock) -> None:
    zoom = start_zoom(clock=clock, daily_create_update_limit=2)
    with _api(zoom) as api:
        meeting_id = api.post("/users/me/meetings", json=MEETING).json()["id"]
        assert api.patch(f"/meetings/{meeting_id}", json={"topic": "b"}).status_code == 204
        refused = api.post("/users/me/meetings", json=MEETING)
        other_user = api.post("/users/bob@acme.example/meetings", json=MEETING)
    clock.advance(timedelta(days=1))
    with _api(zoom) as api:
        next_day = api.post("/users/me/meetings", json=MEETING)
    assert refused.status_code == 429
    assert "daily rate limit (2)" in refused.json()["message"]
    assert refused.headers["Retry-After"] == "2026-03-29T00:00:00Z"
    assert other_user.status_code == 201
    assert next_day.status_code == 201


def test_per_second_limit(start_zoom: Callable[..., RunningZoom], clock: ManualClock) -> None:
    zoom = start_zoom(clock=clock, per_second_limit=2)
    with _api(zoom) as api:
        statuses = [api.get("/meetings/1").status_code for _ in range(3)]
        clock.advance(timedelta(seconds=1))
        after = api.get("/meetings/1").status_code
    assert statuses == [404, 404, 429]
    assert after == 404


def test_injected_faults_by_count(zoom: RunningZoom) -> None:
    zoom.state.faults.rate_limit_next(1, retry_after=None)
    zoom.state.faults.rate_limit_next(1, retry_after="7")
    zoom.state.faults.fail_next(1, status=502)
    with _api(zoom) as api:
        answers = [api.get("/meetings/1") for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 502, 404]
    assert "Retry-After" not in answers[0].headers
    assert answers[1].headers["Retry-After"] == "7"


def test_injected_latency_and_seeded_error_rate(start_zoom: Callable[..., RunningZoom]) -> None:
    def statuses(seed: int) -> list[int]:
        zoom = start_zoom(seed=seed)
        zoom.state.faults.server_error_rate = 0.5
        with _api(zoom) as api:
            return [api.get("/meetings/1").status_code for _ in range(12)]

    assert statuses(3) == statuses(3)
    assert set(statuses(3)) == {404, 503}
    zoom = start_zoom()
    zoom.state.faults.latency_seconds = 0.2
    with _api(zoom) as api:
        assert api.get("/meetings/1").elapsed.total_seconds() >= 0.2


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _played_meeting(zoom: RunningZoom, api: httpx.Client, people: int, uuid: str) -> int:
    meeting_id: int = api.post("/users/me/meetings", json=MEETING).json()["id"]
    start = _at("2026-04-01T09:00:00Z")
    script: list[Start | Join | End] = [Start(start)]
    script += [
        Join(start + timedelta(seconds=i), ScriptPerson(f"P{i}", f"p{i}@cust.example")) for i in range(people)
    ]
    script.append(End(start + timedelta(minutes=30)))
    MeetingPlayer(zoom.state).play(meeting_id, script, instance_uuid=uuid)
    return meeting_id


def test_report_uuid_encoding_rule(zoom: RunningZoom) -> None:
    uuid = "/ab//cD+ef=="
    with _api(zoom) as api:
        _played_meeting(zoom, api, 2, uuid)
        single = api.get(f"/report/meetings/{quote(uuid, safe='')}")
        double = api.get(f"/report/meetings/{quote(quote(uuid, safe=''), safe='')}")
        raw = api.get(f"/report/meetings/{uuid}/participants")
    assert single.status_code == 404 and single.json()["code"] == 3001
    assert raw.status_code == 404
    assert double.status_code == 200
    assert double.json()["uuid"] == uuid
    assert double.json()["participants_count"] == 2


def test_report_paging_and_page_token_expiry(
    start_zoom: Callable[..., RunningZoom], clock: ManualClock
) -> None:
    zoom = start_zoom(clock=clock)
    with _api(zoom) as api:
        meeting_id = _played_meeting(zoom, api, 7, "plainUuid1==")
        first = api.get(f"/report/meetings/{meeting_id}/participants", params={"page_size": 3}).json()
        second = api.get(
            f"/report/meetings/{meeting_id}/participants",
            params={"page_size": 3, "next_page_token": first["next_page_token"]},
        ).json()
        clock.advance(timedelta(minutes=16))
        expired = api.get(
            f"/report/meetings/{meeting_id}/participants",
            params={"page_size": 3, "next_page_token": second["next_page_token"]},
        )
        default = api.get(f"/report/meetings/{meeting_id}/participants").json()
    assert (first["total_records"], first["page_count"], len(first["participants"])) == (7, 3, 3)
    assert second["next_page_token"] and len(second["participants"]) == 3
    assert expired.status_code == 400 and expired.json()["code"] == 300
    assert default["page_size"] == 30 and default["next_page_token"] == ""


def test_report_before_the_meeting_ended_is_refused(zoom: RunningZoom) -> None:
    with _api(zoom) as api:
        meeting_id = api.post("/users/me/meetings", json=MEETING).json()["id"]
        MeetingPlayer(zoom.state).play(meeting_id, [Start(_at("2026-04-01T09:00:00Z"))])
        answer = api.get(f"/report/meetings/{meeting_id}/participants")
    assert answer.status_code == 404 and answer.json()["code"] == 3001
