"""Salesforce end to end: the org's Outbound Message on Event (SOAP, retried until `Ack`) creates
the meeting on the routed provider; Zoom plays it; it is reconciled; the Salesforce Event then
shows the measured outcome in the configured fields. On SQLite and PostgreSQL, against the Zoom
and Salesforce emulators, with one clock for the service and the org."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from integrations.crm.salesforce.sandbox import SalesforceSandbox
from integrations.sandbox.salesforce import (
    SERVER_UNAVAILABLE,
    NotificationState,
    OutboundMessageSender,
    too_many_requests,
)
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

ORG_ID = "00D5g000004SbxQEAS"


def sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclasses.dataclass
class Harness(CrmService):
    salesforce: SalesforceSandbox

    @property
    def sender(self) -> OutboundMessageSender:
        return self.salesforce.sender

    def event(self, **fields: Any) -> str:
        """An Event a rep booked, with what the admin's Flow fills for the Outbound Message."""
        return self.salesforce.state.create_record(
            "Event",
            {
                "Subject": "Discovery call",
                "StartDateTime": sf_time(SCHEDULED),
                "EndDateTime": sf_time(SCHEDULED + timedelta(minutes=30)),
                "DurationInMinutes": 30,
                "Salesmeet_Timezone__c": "Europe/Berlin",
                "Salesmeet_Organizer_Email__c": "host@acme.example",
                "Salesmeet_Attendee_Emails__c": "bob@customer.example;carla@customer.example",
                "Salesmeet_Cancelled__c": False,
                "WhatId": "0065g00000AbCdEAAA",
                **fields,
            },
        )

    def edit(self, event_id: str, **fields: Any) -> None:
        """A rep's edit one second later (LastModifiedDate has second precision)."""
        self.clock.advance(timedelta(seconds=1))
        self.salesforce.state.edit_record("Event", event_id, fields)

    def notify(self, *event_ids: str) -> int:
        """The Flow fires the Outbound Message for each record; Salesforce sends what is due."""
        for event_id in event_ids:
            self.sender.record_changed(event_id)
        return self.sender.run_due()

    def record(self, event_id: str) -> dict[str, Any]:
        found = self.salesforce.state.record("Event", event_id)
        assert found is not None
        return found

    def writes(self, event_id: str) -> list[dict[str, Any]]:
        with self.salesforce.state.lock:
            return [w.fields for w in self.salesforce.state.writes if w.record_id == event_id]

    def deliveries(self) -> int:
        with self.runtime.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(crm_deliveries)).scalar_one())


@pytest.fixture
def sf(database_url: str) -> Iterator[Harness]:
    with running_crm_service(database_url, "salesforce", {"organization_id": ORG_ID}) as service:
        handle = service.runtime.crm_sandbox_handle("salesforce")
        assert isinstance(handle, SalesforceSandbox)
        handle.state.config = dataclasses.replace(handle.state.config, clock=service.clock)
        # Salesforce posts to the public URL; here the service listens elsewhere, as behind a proxy.
        handle.sender.target_url = f"{service.url}/webhooks/salesforce"
        yield Harness(**service.base(), salesforce=handle)


def test_an_event_outbound_message_creates_the_meeting_and_the_event_shows_the_measured_outcome(
    sf: Harness,
) -> None:
    event_id = sf.event()
    assert sf.notify(event_id) == 1  # acked: stored before the answer
    (queued,) = sf.sender.queue
    assert queued.statuses == [200] and queued.state is NotificationState.ACKED
    sf.work()
    (meeting,) = sf.meetings()
    assert meeting["external_ref"] == {"system": "salesforce", "id": event_id}
    assert meeting["provider"] == "zoom" and meeting["kind"] == "customer"
    assert meeting["organizer"]["email"] == "host@acme.example"
    assert meeting["duration_minutes"] == 30 and meeting["timezone"] == "Europe/Berlin"
    assert datetime.fromisoformat(meeting["start"]) == SCHEDULED
    assert {a["email"] for a in meeting["attendees"]} == {"bob@customer.example", "carla@customer.example"}
    assert sf.writes(event_id) == []  # nothing is written before the outcome is known

    sf.play(meeting, HELD)
    sf.work()
    attendance = sf.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert attendance["completeness"] == "reconciled"
    event = sf.record(event_id)
    assert event["Salesmeet_Outcome__c"] == "Completed"
    assert event["Salesmeet_Minutes__c"] == 27
    assert event["Salesmeet_Host_No_Show__c"] is False
    assert event["Salesmeet_Customer_No_Show__c"] is False
    assert event["Salesmeet_Actual_Start__c"] == sf_time(at(1))
    assert event["Salesmeet_Actual_End__c"] == sf_time(at(28))
    assert event["Salesmeet_Join_Url__c"] == meeting["join_url"]
    assert "bob@customer.example 25 min" in event["Salesmeet_Attendance__c"]
    assert "carla@customer.example absent" in event["Salesmeet_Attendance__c"]
    assert event["Subject"] == "Discovery call"  # the rep's fields are left alone

    sf.clock.advance(timedelta(minutes=5))
    sf.work()  # nothing changed: nothing is written again
    assert len(sf.writes(event_id)) == 1


def test_a_customer_who_never_came_sets_the_customer_no_show_fields(sf: Harness) -> None:
    event_id = sf.event()
    sf.notify(event_id)
    sf.work()
    (meeting,) = sf.meetings()
    sf.play(meeting, (Start(at(1)), Join(at(1), HOST), Leave(at(15), HOST), End(at(15))))
    sf.work()
    event = sf.record(event_id)
    assert event["Salesmeet_Outcome__c"] == "Customer no-show"
    assert event["Salesmeet_Customer_No_Show__c"] is True
    assert event["Salesmeet_Host_No_Show__c"] is False
    assert event["Salesmeet_Minutes__c"] == 14


def test_a_second_notification_reschedules_in_place_a_stale_one_changes_nothing_and_cancel_writes_cancelled(
    sf: Harness,
) -> None:
    event_id = sf.event()
    sf.notify(event_id)
    sf.work()
    (first,) = sf.meetings()
    # A second outbound message on Event (another Flow) built before the edit, delivered last.
    with OutboundMessageSender(
        sf.salesforce.state, sf.sender.target_url, fields=sf.sender.fields, action_id="04k5g000000FlowBAAA"
    ) as other:
        stale_body = other.envelope([other.record_changed(event_id)])

    later = SCHEDULED + timedelta(days=3)
    sf.edit(
        event_id,
        StartDateTime=sf_time(later),
        EndDateTime=sf_time(later + timedelta(minutes=45)),
        DurationInMinutes=45,
    )
    sf.notify(event_id)
    sf.work()
    # The older state arrives last (under its own notification id): it changes nothing.
    late = httpx.post(sf.sender.target_url, content=stale_body, headers={"content-type": "text/xml"})
    assert late.status_code == 200 and b"<Ack>true</Ack>" in late.content
    sf.work()
    (moved,) = sf.meetings()
    assert (moved["id"], moved["provider_meeting_id"]) == (first["id"], first["provider_meeting_id"])
    assert datetime.fromisoformat(moved["start"]) == later and moved["duration_minutes"] == 45
    assert sf.zoom.meetings[int(first["provider_meeting_id"])].duration == 45  # the same Zoom meeting

    sf.edit(event_id, Salesmeet_Cancelled__c=True)
    sf.notify(event_id)
    sf.work()
    (cancelled,) = sf.meetings()
    assert cancelled["status"] == "cancelled"
    event = sf.record(event_id)
    assert event["Salesmeet_Outcome__c"] == "Cancelled"
    assert event["Salesmeet_Customer_No_Show__c"] is False and event["Salesmeet_Host_No_Show__c"] is False
    assert len(sf.writes(event_id)) == 1
    with sf.runtime.db.read() as conn:
        assert crm_repo.delivery_counts(conn) == {("salesforce", "done"): 4}


def test_duplicated_retried_and_reordered_notifications_create_nothing_twice(sf: Harness) -> None:
    events = [sf.event(Subject=f"Call {n}") for n in range(3)]
    sf.sender.duplicate = True  # every acked batch is posted twice
    sf.sender.reorder = True
    sf.sender.record_changed(events[0])
    sf.sender.run_due()
    sf.sender.duplicate = False
    for event_id in events:
        sf.sender.record_changed(event_id)  # events[0] a second time, in a new notification
    sf.sender.run_due()
    assert sf.deliveries() == 2  # the duplicated POST is stored once
    again = httpx.post(
        sf.sender.target_url,
        content=sf.sender.envelope(sf.sender.queue[1:]),
        headers={"content-type": "text/xml"},
    )
    assert again.status_code == 200 and b"<Ack>true</Ack>" in again.content  # a resend is acked...
    assert sf.deliveries() == 2  # ...and stored once
    sf.work()
    meetings = sf.meetings()
    assert sorted(m["external_ref"]["id"] for m in meetings) == sorted(events)
    assert len(sf.zoom.meetings) == 3


def test_a_notification_is_acked_only_once_stored_so_an_outage_of_ours_loses_nothing(sf: Harness) -> None:
    event_id = sf.event()
    with sf.runtime.db.write() as conn:  # the deliveries table is out of reach for a while
        conn.execute(text("ALTER TABLE crm_deliveries RENAME TO crm_deliveries_away"))
    assert sf.notify(event_id) == 0
    (queued,) = sf.sender.queue
    assert queued.statuses == [503] and queued.state is NotificationState.QUEUED
    with sf.runtime.db.write() as conn:
        conn.execute(text("ALTER TABLE crm_deliveries_away RENAME TO crm_deliveries"))
    sf.sender.run_until_settled(sf.clock)  # Salesforce's retry a minute later
    assert queued.statuses == [503, 200] and queued.state is NotificationState.ACKED
    sf.work()
    assert len(sf.meetings()) == 1


def test_a_wrong_organization_is_refused_with_a_soap_fault_and_stored_nowhere(sf: Harness) -> None:
    event_id = sf.event()
    other_org = OutboundMessageSender(
        sf.salesforce.state, sf.sender.target_url, organization_id="00D000000000001AAA"
    )
    with other_org:
        other_org.record_changed(event_id)
        assert other_org.run_due() == 0
        body = other_org.envelope(other_org.queue)
    assert other_org.queue[0].statuses == [403]
    refused = httpx.post(sf.sender.target_url, content=body, headers={"content-type": "text/xml"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/xml")
    assert b"<faultcode>soapenv:Client</faultcode>" in refused.content
    assert b"wrong_organization" in refused.content
    garbage = httpx.post(sf.sender.target_url, content=b"<not-soap/>", headers={"content-type": "text/xml"})
    assert garbage.status_code == 400 and b"invalid_outbound_message" in garbage.content
    entity = b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    assert httpx.post(sf.sender.target_url, content=entity).status_code == 400
    assert sf.deliveries() == 0
    sf.work()
    assert sf.meetings() == []


def test_the_session_id_salesforce_may_send_is_never_stored(sf: Harness) -> None:
    sender = OutboundMessageSender(sf.salesforce.state, sf.sender.target_url, send_session_id=True)
    with sender:
        sender.record_changed(sf.event())
        body = sender.envelope(sender.queue)
        assert sender.run_due() == 1
    session = body.split(b"<SessionId>")[1].split(b"</SessionId>")[0]
    assert session.startswith(ORG_ID.encode())
    with sf.runtime.db.read() as conn:
        (stored,) = conn.execute(select(crm_deliveries.c.body)).scalars().all()
    assert session not in bytes(stored) and b"SessionId" not in bytes(stored)
    assert json.loads(stored)["organization_id"] == ORG_ID


def test_write_back_survives_ten_minutes_of_429s_and_5xx_with_nothing_lost_or_doubled(sf: Harness) -> None:
    events = [sf.event(Subject=f"Call {n}") for n in range(3)]
    sf.notify(*events)
    sf.work()
    meetings = sf.meetings()
    assert len(meetings) == 3
    for meeting in meetings:
        sf.play(meeting, HELD)
    sf.salesforce.state.faults.outage(
        sf.clock() + timedelta(minutes=10), (too_many_requests("30"), SERVER_UNAVAILABLE)
    )
    sf.work()
    with sf.runtime.db.read() as conn:
        rows = conn.execute(select(crm_outbox.c.state, crm_outbox.c.last_error)).all()
    assert [r.state for r in rows] == ["pending"] * 3
    assert {r.last_error.split(":")[0] for r in rows} == {"crm_rate_limited", "crm_unavailable"}
    end = sf.clock() + timedelta(minutes=20)
    while sf.clock() < end:
        sf.clock.advance(timedelta(seconds=20))
        sf.work()
    for event_id in events:
        assert sf.record(event_id)["Salesmeet_Outcome__c"] == "Completed"
        assert len(sf.writes(event_id)) == 1  # nothing doubled
    admin = sf.client.get("/v1/admin/crm", headers=auth(ADMIN_KEY)).json()
    (salesforce,) = [crm for crm in admin if crm["crm"] == "salesforce"]
    assert salesforce["outbox"]["done"] == 3 and salesforce["outbox"]["pending"] == 0
