"""HubSpot end to end: a deal workflow's signed "Send a webhook" delivery creates the meeting on
the routed provider; Zoom plays it; it is reconciled; the HubSpot meeting engagement then shows
the outcome with the attended minutes, associated to the deal and its contacts. On SQLite and
PostgreSQL, against the Zoom and HubSpot emulators."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from integrations.crm.hubspot.sandbox import HubSpotSandbox
from integrations.sandbox.hubspot.sender import HubSpotSender
from integrations.sandbox.hubspot.state import EmulatedMeeting
from integrations.sandbox.zoom.player import (
    End,
    Join,
    Leave,
    Start,
)
from service.storage import crm_repo
from service.storage.tables import crm_deliveries, crm_outbox
from tests.acceptance.crm_support import HELD, HOST, SCHEDULED, CrmService, at, running_crm_service
from tests.support import ADMIN_KEY, auth

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class Harness(CrmService):
    hubspot: HubSpotSandbox
    sender: HubSpotSender

    def deal(self, deal_id: str = "4711", **properties: Any) -> dict[str, Any]:
        """The workflow action's customised body for a deal (see the README's HubSpot setup)."""
        return {
            "hs_object_id": deal_id,
            "meeting_title": "Discovery call",
            "meeting_start": int(SCHEDULED.timestamp() * 1000),
            "meeting_duration_minutes": 30,
            "meeting_timezone": "Europe/Berlin",
            "owner_email": "host@acme.example",
            "hubspot_owner_id": "301",
            "contact_emails": "bob@customer.example;carla@customer.example",
            "contact_ids": "901;902",
            "hs_lastmodifieddate": "2026-11-20T10:00:00.000Z",
            **properties,
        }

    def engagements(self) -> list[EmulatedMeeting]:
        with self.hubspot.state.lock:
            return list(self.hubspot.state.meetings.values())


@contextmanager
def running_hubspot(database_url: str, **hubspot: Any) -> Iterator[Harness]:
    with running_crm_service(database_url, "hubspot", hubspot) as service:
        handle = service.runtime.crm_sandbox_handle("hubspot")
        assert isinstance(handle, HubSpotSandbox)
        handle.state.clock = service.clock
        # HubSpot calls the public URL; here the service listens elsewhere, as behind a proxy.
        sender = dataclasses.replace(
            handle.sender, base_url=service.url, signed_base_url=service.public_url, clock=service.clock
        )
        yield Harness(**service.base(), hubspot=handle, sender=sender)


@pytest.fixture
def hs(database_url: str) -> Iterator[Harness]:
    with running_hubspot(database_url) as harness:
        yield harness


def test_a_deal_workflow_creates_the_meeting_and_gets_completed_with_attended_minutes(hs: Harness) -> None:
    for _ in range(2):  # a redelivery (same body, signed again) is stored once
        assert [a.status for a in hs.sender.deliver(hs.deal())] == [200]
    with hs.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(crm_deliveries)).scalar_one() == 1
    hs.work()
    (meeting,) = hs.meetings()
    assert meeting["external_ref"] == {"system": "hubspot", "id": "4711"}
    assert meeting["provider"] == "zoom" and meeting["kind"] == "customer"
    assert meeting["organizer"]["email"] == "host@acme.example"
    assert {a["email"] for a in meeting["attendees"]} == {"bob@customer.example", "carla@customer.example"}
    assert hs.engagements() == []  # nothing is written before the outcome is known

    hs.play(meeting, HELD)
    hs.work()
    record = hs.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert record["completeness"] == "reconciled"
    (engagement,) = hs.engagements()
    props = engagement.properties
    assert props["hs_meeting_outcome"] == "COMPLETED"
    assert props["salesmeet_minutes"] == "27"
    assert props["salesmeet_attendance"] == "completed"
    assert props["hs_meeting_start_time"] == str(int(at(1).timestamp() * 1000))
    assert props["hs_meeting_end_time"] == str(int(at(28).timestamp() * 1000))
    assert props["hubspot_owner_id"] == "301"
    assert props["hs_meeting_external_url"] == f"http://127.0.0.1:9/v1/meetings/{meeting['id']}"
    assert "bob@customer.example (customer): attended, 25 min" in props["hs_meeting_body"]
    assert "carla@customer.example (customer): did not attend, 0 min" in props["hs_meeting_body"]
    assert engagement.associations == {"deals": ["4711"], "contacts": ["901", "902"]}

    hs.clock.advance(timedelta(minutes=5))
    hs.work()  # nothing changed: nothing is written again
    assert len(hs.engagements()) == 1
    assert [c for c in hs.hubspot.state.calls if c[0] == "POST" and c[1].endswith("/meetings")] == [
        ("POST", "/crm/v3/objects/meetings", 201)
    ]


def test_a_customer_who_never_came_is_a_no_show(hs: Harness) -> None:
    hs.sender.deliver(hs.deal("5000"))
    hs.work()
    (meeting,) = hs.meetings()
    hs.play(meeting, (Start(at(1)), Join(at(1), HOST), Leave(at(15), HOST), End(at(15))))
    hs.work()
    (engagement,) = hs.engagements()
    assert engagement.properties["hs_meeting_outcome"] == "NO_SHOW"
    assert engagement.properties["salesmeet_attendance"] == "customer_no_show"


def test_a_second_delivery_reschedules_in_place_an_older_one_changes_nothing_and_cancel_shows_canceled(
    hs: Harness,
) -> None:
    later = SCHEDULED + timedelta(days=3)
    hs.sender.deliver(hs.deal(), signing="v1")
    hs.work()
    (first,) = hs.meetings()
    hs.sender.deliver(
        hs.deal(
            meeting_start=later.isoformat(),
            meeting_duration_minutes=45,
            hs_lastmodifieddate="2026-11-22T10:00:00Z",
        ),
        signing="v2",
    )
    # A retry of an older state that arrives last.
    hs.sender.deliver(hs.deal(meeting_title="Old title", hs_lastmodifieddate="2026-11-21T10:00:00Z"))
    hs.work()
    (moved,) = hs.meetings()
    assert (moved["id"], moved["provider_meeting_id"]) == (first["id"], first["provider_meeting_id"])
    assert datetime.fromisoformat(moved["start"]) == later and moved["duration_minutes"] == 45
    assert moved["title"] == "Discovery call"
    zoom_meeting = hs.zoom.meetings[int(first["provider_meeting_id"])]
    assert zoom_meeting.duration == 45  # the same Zoom meeting, updated

    hs.sender.deliver(hs.deal(meeting_status="cancelled", hs_lastmodifieddate="2026-11-23T10:00:00Z"))
    hs.work()
    (cancelled,) = hs.meetings()
    assert cancelled["status"] == "cancelled"
    (engagement,) = hs.engagements()
    assert engagement.properties["hs_meeting_outcome"] == "CANCELED"
    assert engagement.associations["deals"] == ["4711"]
    with hs.runtime.db.read() as conn:
        assert crm_repo.delivery_counts(conn) == {("hubspot", "done"): 4}


def test_forged_and_stale_signatures_are_refused_and_stored_nowhere(hs: Harness) -> None:
    forger = dataclasses.replace(hs.sender, app_secret="not-the-app-secret")
    assert [a.status for a in forger.deliver(hs.deal())] == [401]
    stale = hs.sender.post("/webhooks/hubspot", hs.deal(), at=hs.clock() - timedelta(minutes=6))
    assert (stale.status_code, stale.json()["code"]) == (401, "stale_timestamp")
    assert hs.sender.post("/webhooks/hubspot", hs.deal(), signing="none").status_code == 401
    assert hs.sender.post("/webhooks/hubspot", hs.deal(), signing="api_key").status_code == 401
    with hs.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(crm_deliveries)).scalar_one() == 0
    assert hs.meetings() == []


def test_write_back_survives_ten_minutes_of_429s_and_5xx_with_nothing_lost_or_doubled(hs: Harness) -> None:
    for deal_id in ("1", "2", "3"):
        hs.sender.deliver(hs.deal(deal_id))
    hs.work()
    meetings = hs.meetings()
    assert len(meetings) == 3
    for meeting in meetings:
        hs.play(meeting, HELD)
    hs.hubspot.state.outage_for(timedelta(minutes=10))
    hs.work()
    with hs.runtime.db.read() as conn:
        states = conn.execute(select(crm_outbox.c.state, crm_outbox.c.last_error)).all()
    assert [s.state for s in states] == ["pending"] * 3
    end = hs.clock() + timedelta(minutes=15)
    while hs.clock() < end:
        hs.clock.advance(timedelta(seconds=20))
        hs.work()
    statuses = {status for _, _, status in hs.hubspot.state.calls}
    assert {429, 503} <= statuses
    engagements = hs.engagements()
    assert len(engagements) == 3
    assert {e.properties["hs_meeting_outcome"] for e in engagements} == {"COMPLETED"}
    assert sorted(e.associations["deals"][0] for e in engagements) == ["1", "2", "3"]
    admin = hs.client.get("/v1/admin/crm", headers=auth(ADMIN_KEY)).json()
    assert admin[0]["outbox"]["done"] == 3 and admin[0]["outbox"]["pending"] == 0


def test_a_write_whose_id_was_never_recorded_is_found_again_not_duplicated(hs: Harness) -> None:
    hs.sender.deliver(hs.deal())
    hs.work()
    (meeting,) = hs.meetings()
    hs.play(meeting, HELD)
    hs.work()
    (engagement,) = hs.engagements()
    with hs.runtime.db.write() as conn:  # as if the process died between HubSpot's 201 and our commit
        conn.execute(crm_outbox.update().values(remote_id=None))
        assert crm_repo.requeue_outbox(conn, crm="hubspot", state="done", now=hs.clock()) == 1
    hs.work()
    assert [e.id for e in hs.engagements()] == [engagement.id]


VIDEO_START = int((SCHEDULED + timedelta(days=2)).timestamp() * 1000)


def video_create_payload() -> dict[str, Any]:
    """What HubSpot's meeting scheduler sends the extension for a 30-minute meeting two days on."""
    return {
        "portalId": 62515,
        "userId": 123,
        "userEmail": "host@acme.example",
        "topic": "Demo with Bob",
        "source": "MEETINGS",
        "startTime": VIDEO_START,
        "endTime": VIDEO_START + 30 * 60_000,
    }


def test_the_video_conferencing_extension_creates_updates_and_deletes(hs: Harness) -> None:
    start, payload = VIDEO_START, video_create_payload()
    verify = hs.sender.post(
        "/crm/hubspot/video/verify-user", {"portalId": 62515, "userEmail": "host@acme.example"}
    )
    assert (verify.status_code, verify.json()) == (200, {"id": "host@acme.example"})
    outsider = {"portalId": 62515, "userEmail": "x@customer.example"}
    assert hs.sender.post("/crm/hubspot/video/verify-user", outsider).status_code == 404
    created = hs.sender.post("/crm/hubspot/video/create", payload)
    assert created.status_code == 200, created.text
    conference = created.json()
    assert conference["conferenceUrl"].startswith("https://") and conference["conferenceId"]
    again = hs.sender.post("/crm/hubspot/video/create", payload)  # HubSpot's retry
    assert again.json()["conferenceId"] == conference["conferenceId"]
    forged = dataclasses.replace(hs.sender, app_secret="nope").post("/crm/hubspot/video/create", payload)
    assert forged.status_code == 401
    moved = {**payload, "conferenceId": conference["conferenceId"], "endTime": start + 60 * 60_000}
    updated = hs.sender.post("/crm/hubspot/video/update", moved)
    assert updated.status_code == 200 and updated.json()["conferenceUrl"] == conference["conferenceUrl"]
    meeting = hs.client.get(f"/v1/meetings/{conference['conferenceId']}", headers=auth()).json()
    assert meeting["duration_minutes"] == 60 and meeting["external_ref"]["system"] == "hubspot_vc"
    deleted = hs.sender.post("/crm/hubspot/video/delete", {"conferenceId": conference["conferenceId"]})
    assert deleted.status_code == 204
    meeting = hs.client.get(f"/v1/meetings/{conference['conferenceId']}", headers=auth()).json()
    assert meeting["status"] == "cancelled"
    hs.work()
    assert hs.engagements() == []  # HubSpot's scheduler keeps its own engagement for these


def test_the_admin_sees_why_a_delivery_and_a_write_back_were_parked(hs: Harness) -> None:
    hs.sender.deliver(hs.deal("4711"))
    hs.sender.deliver(hs.deal("4712", meeting_start="next tuesday"))
    hs.work()
    # The portal's admin deleted the custom property salesmeet writes the minutes to.
    with hs.hubspot.state.lock:
        hs.hubspot.state.custom_properties = frozenset({"salesmeet_attendance"})
    hs.sender.deliver(hs.deal("4711", meeting_status="cancelled", hs_lastmodifieddate="2026-11-23T10:00:00Z"))
    hs.work()
    assert hs.engagements() == []

    (meeting,) = hs.meetings()
    (hubspot,) = hs.client.get("/v1/admin/crm", headers=auth(ADMIN_KEY)).json()
    (delivery,) = hubspot["deliveries"]["recent_parked"]
    assert delivery["attempts"] == 1 and delivery["delivery_key"]
    assert delivery["error"] == "unreadable: meeting_start: not epoch ms or ISO 8601: 'next tuesday'"
    (write_back,) = hubspot["outbox"]["recent_parked"]
    assert (write_back["meeting_id"], write_back["record_id"], write_back["attempts"]) == (
        meeting["id"],
        "4711",
        1,
    )
    assert (
        write_back["error"]
        == "crm_rejected: POST /crm/v3/objects/meetings: 400 Property values were not valid"
        ' (Property "salesmeet_minutes" does not exist)'
    )
    token = hs.hubspot.state.access_token
    assert token not in json.dumps(hubspot)


def test_api_key_mode_takes_the_workflow_key_while_the_extension_still_verifies_signatures(
    database_url: str,
) -> None:
    with running_hubspot(database_url, webhook_auth="api_key") as hs:
        key, app_secret = hs.sender.api_key, hs.sender.app_secret
        assert key and app_secret and key != app_secret  # two secrets, each with one meaning
        refused = {
            "wrong": dataclasses.replace(hs.sender, api_key=key[::-1]).deliver(hs.deal()),
            "missing": hs.sender.deliver(hs.deal(), signing="none"),
            "app secret": dataclasses.replace(hs.sender, api_key=app_secret).deliver(hs.deal()),
            "signed": hs.sender.deliver(hs.deal(), signing="v3"),
        }
        assert {why: [a.status for a in attempts] for why, attempts in refused.items()} == {
            why: [401] for why in refused
        }
        with hs.runtime.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(crm_deliveries)).scalar_one() == 0

        assert [a.status for a in hs.sender.deliver(hs.deal(), signing="api_key")] == [200]
        with hs.runtime.db.read() as conn:
            stored = conn.execute(select(crm_deliveries)).mappings().one()
        assert key not in repr(dict(stored))  # the key was checked, and kept nowhere
        hs.work()
        (meeting,) = hs.meetings()
        assert meeting["external_ref"] == {"system": "hubspot", "id": "4711"}

        payload = video_create_payload()
        created = hs.sender.post("/crm/hubspot/video/create", payload)  # signed v3 by the app secret
        assert created.status_code == 200, created.text
        assert created.json()["conferenceUrl"].startswith("https://")
        by_key = hs.sender.post("/crm/hubspot/video/create", payload, signing="api_key")
        assert (by_key.status_code, by_key.json()["code"]) == (401, "missing_signature")
