"""Webhook endpoints under malformed bodies, headers, encodings and extreme values.

Signed junk is stored (verified deliveries are always kept) and parked or applied, never a 5xx, and
it breaks nothing for anyone else: the API keeps answering. Unsigned junk is refused and stored
nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from service.storage.tables import webhook_deliveries
from tests.helpers_signing import signed_headers
from tests.support import ADMIN_KEY, RunningService, auth, running_service

EXTREME_TIMES = [
    "9999-12-31T23:59:30Z",
    "0001-01-01T00:00:00+14:00",
    "1969-12-31T23:59:59Z",
    "2026-13-45T25:61:61Z",
    "",
    "now",
    "2026-12-01T09:00:00",
]
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=290, max_size=700),
    st.sampled_from(["\x00", "a\x00b", "İ" * 300 + "@x.example", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), texts
)
times = st.one_of(st.sampled_from(EXTREME_TIMES), texts)


@st.composite
def zoom_like(draw: st.DrawFn) -> dict[str, Any]:
    participant = {
        "user_id": draw(scalars),
        "user_name": draw(texts),
        "id": draw(st.one_of(texts, st.none())),
        "participant_uuid": draw(st.one_of(texts, st.none())),
        "email": draw(st.one_of(texts, st.none())),
        "join_time": draw(times),
        "leave_time": draw(times),
    }
    meeting = {
        "id": draw(st.one_of(st.integers(min_value=-(2**64), max_value=2**64), texts)),
        "uuid": draw(texts),
        "host_id": draw(texts),
        "topic": draw(texts),
        "start_time": draw(times),
        "end_time": draw(times),
        "participant": draw(st.one_of(st.just(participant), scalars)),
    }
    return {
        "event": draw(
            st.sampled_from(
                [
                    "meeting.started",
                    "meeting.ended",
                    "meeting.participant_joined",
                    "meeting.participant_left",
                    "endpoint.url_validation",
                    "recording.completed",
                ]
            )
            | texts
        ),
        "event_ts": draw(scalars),
        "payload": draw(st.one_of(st.just({"account_id": "a", "object": meeting}), scalars)),
    }


bodies = st.one_of(
    zoom_like().map(lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = tmp_path_factory.mktemp("webhook-fuzz") / "fuzz.db"
    with running_service(f"sqlite:///{database}") as svc:
        yield svc


def _stored(service: RunningService) -> int:
    with service.runtime.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one())


@given(body=bodies)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_signed_junk_is_kept_and_never_a_5xx(service: RunningService, body: bytes) -> None:
    answer = service.client.post("/webhooks/zoom", content=body, headers=signed_headers(body))
    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 413), answer.text


headers = st.dictionaries(
    st.sampled_from(["x-zm-signature", "x-zm-request-timestamp", "content-type", "x-zm-trackingid"]),
    # What an HTTP client can send at all: printable ASCII, no surrounding blanks.
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip),
)


@given(body=bodies, sent_headers=headers)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_unsigned_junk_is_refused_and_stored_nowhere(
    service: RunningService, body: bytes, sent_headers: dict[str, str]
) -> None:
    before = _stored(service)
    answer = service.client.post("/webhooks/zoom", content=body, headers=sent_headers)
    assert answer.status_code in (401, 413), answer.text
    assert _stored(service) == before


def test_after_the_junk_the_worker_parks_it_and_the_api_still_answers(service: RunningService) -> None:
    service.runtime.worker.drain()
    service.runtime.worker.run_periodic(force=True)
    listed = service.client.get("/v1/meetings", params={"limit": 200}, headers=auth(ADMIN_KEY))
    assert listed.status_code == 200, listed.text
    for meeting in listed.json()["items"]:
        for path in (f"/v1/meetings/{meeting['id']}", f"/v1/meetings/{meeting['id']}/attendance"):
            answer = service.client.get(path, headers=auth(ADMIN_KEY))
            assert answer.status_code == 200, (path, answer.text)
    with service.runtime.db.read() as conn:
        statuses = set(conn.execute(select(webhook_deliveries.c.status).distinct()).scalars())
    assert statuses <= {"done", "parked"}
