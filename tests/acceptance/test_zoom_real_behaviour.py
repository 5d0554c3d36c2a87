"""Zoom as it really behaves, end to end: external identities hidden unless registered, guest ids
new on every rejoin, a waiting room, a no-show meeting without any report, a lost end, and the
meeting id started again a week later. After reconciliation every invitee's time equals what
really happened, to the second, and nobody is split, doubled or wrongly merged."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.sandbox.zoom.config import ZoomEmulatorConfig
from integrations.sandbox.zoom.player import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    PlaySummary,
    ScriptPerson,
    Start,
    Step,
    TruthSession,
    Wait,
    WebhookFaults,
)
from integrations.sandbox.zoom.webhooks import WebhookSender
from tests.support import RunningService, auth, meeting_body, running_service, sandbox_config

SCHEDULED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=8)
HOST = ScriptPerson("Hanna Host", "host@acme.example", "u_sandbox0000")
BOB = ScriptPerson("Bob Buyer", "bob@customer.example")
JOSE = ScriptPerson("Jose Alvarez", "jose@customer.example")
CARLA = ScriptPerson("Carla Colleague", "carla@eu.acme.example")
WENDY = ScriptPerson("Walk-in Wendy")  # never registered, no e-mail: a guest
INVITEES = [
    {"email": "bob@customer.example", "name": "Bob Buyer"},
    {"email": "jose@customer.example", "name": "José Álvarez"},
    {"email": "carla@eu.acme.example", "name": "Carla Colleague"},
    {"email": "no.show@customer.example", "name": "Nora Noshow"},
]


def at(minutes: float, base: datetime = SCHEDULED) -> datetime:
    return base + timedelta(seconds=round(minutes * 60))


# Bob waits 2 minutes in the waiting room, then leaves and rejoins (a new id); Wendy comes twice
# (a new id each time); José drops and rejoins; everyone outside the account is hidden.
SCRIPT: Sequence[Step] = (
    Start(at(2)),
    Join(at(2), HOST),
    Wait(at(3), BOB),
    Join(at(4), JOSE),
    Join(at(5), BOB),
    Join(at(6), WENDY),
    Leave(at(10), WENDY),
    Join(at(12), CARLA),
    Leave(at(15), BOB),
    Join(at(16), WENDY),
    Join(at(17), BOB),
    Leave(at(20), WENDY),
    Leave(at(25), JOSE),
    Join(at(26), JOSE),
    Leave(at(33), HOST),
    End(at(34.5)),
)


@pytest.fixture
def svc(database_url: str) -> Iterator[RunningService]:
    with running_service(database_url, config=sandbox_config(sandbox_behaviour="real")) as running:
        yield running


def create(
    svc: RunningService, ref: str, attendees: list[dict[str, Any]], minutes: int = 30
) -> dict[str, Any]:
    response = svc.client.post(
        "/v1/meetings",
        json=meeting_body(
            external_ref={"system": "hubspot", "id": ref},
            start=SCHEDULED.isoformat(),
            duration_minutes=minutes,
            attendees=attendees,
        ),
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    meeting: dict[str, Any] = response.json()
    return meeting


def play(
    svc: RunningService, meeting: dict[str, Any], script: Sequence[Step], faults: WebhookFaults
) -> PlaySummary:
    with WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token) as sender:
        return MeetingPlayer(svc.zoom, sender, faults).play(int(meeting["provider_meeting_id"]), script)


def reconcile(svc: RunningService) -> None:
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()


def attendance(svc: RunningService, meeting_id: str) -> dict[str, Any]:
    record: dict[str, Any] = svc.client.get(f"/v1/meetings/{meeting_id}/attendance", headers=auth()).json()
    return record


def union_seconds(sessions: Sequence[TruthSession], start: datetime, end: datetime) -> int:
    covered: set[int] = set()
    for s in sessions:
        covered.update(range(int(max(s.joined_at, start).timestamp()), int(min(s.left_at, end).timestamp())))
    return len(covered)


def test_hidden_customers_rejoining_guests_and_a_waiting_room_come_out_exact(svc: RunningService) -> None:
    # Zoom's exception for registrants switched off: only the registrant id tells who they are.
    svc.zoom.realism = replace(svc.zoom.realism, registrant_emails_visible=False)
    meeting = create(svc, "deal-real-1", INVITEES)
    links = {a["email"]: a["join_url"] for a in meeting["attendees"]}
    # Each external invitee got a personal link (the CRM sends it); internal people need none.
    assert links["bob@customer.example"] and links["jose@customer.example"]
    assert links["bob@customer.example"] != links["jose@customer.example"] != meeting["join_url"]
    assert links["carla@eu.acme.example"] is None

    summary = play(
        svc, meeting, SCRIPT, WebhookFaults(drop_rate=0.2, duplicate_rate=0.2, shuffle=True, seed=5)
    )
    assert summary.dropped
    reconcile(svc)

    record = attendance(svc, meeting["id"])
    assert record["completeness"] == "reconciled"
    start, end = at(2), at(34.5)
    assert (record["actual_start"], record["actual_end"]) == (
        start.isoformat().replace("+00:00", "Z"),
        end.isoformat().replace("+00:00", "Z"),
    )
    people = record["participants"]
    by_email = {p["email"]: p for p in people if p["email"]}
    guests = [p for p in people if p["email"] is None]
    # Nobody split or doubled: one participant per real person, plus the never-joined invitee.
    assert len([p for p in people if p["sessions"]]) == len(summary.ground_truth) == 5
    assert len(guests) == 1
    for key, truth in summary.ground_truth.items():
        participant = by_email[key] if key in by_email else guests[0]
        assert participant["attended_seconds"] == union_seconds(truth, start, end), key

    bob, jose = by_email["bob@customer.example"], by_email["jose@customer.example"]
    assert (bob["identified_by"], jose["identified_by"]) == ("registrant", "registrant")
    assert bob["waiting_seconds"] == 120 == summary.waiting_truth["bob@customer.example"]
    assert bob["first_join"] == at(5).isoformat().replace("+00:00", "Z")  # admitted, not when he knocked
    assert by_email["host@acme.example"]["identified_by"] == "email"
    assert by_email["carla@eu.acme.example"]["identified_by"] == "email"
    assert by_email["no.show@customer.example"]["attended"] is False
    wendy = guests[0]
    assert (wendy["classification"], wendy["identified_by"], wendy["attended_seconds"]) == (
        "unidentified",
        "none",
        8 * 60,
    )
    external_attended = {p["email"] for p in people if p["classification"] == "external" and p["attended"]}
    assert external_attended == {"bob@customer.example", "jose@customer.example"}


def test_a_customer_no_show_meeting_without_any_report_completes_at_the_first_attempt(
    svc: RunningService,
) -> None:
    meeting = create(svc, "deal-real-2", [{"email": "bob@customer.example", "name": "Bob Buyer"}])
    alone: Sequence[Step] = (Start(at(0)), Join(at(0), HOST), Leave(at(15), HOST), End(at(15)))
    play(svc, meeting, alone, WebhookFaults())
    reconcile(svc)  # one reconciliation attempt: Zoom answers 3001 for a one-participant meeting
    record = attendance(svc, meeting["id"])
    assert record["completeness"] == "reconciled"
    assert "no participants report" in record["completeness_reason"]
    by_email = {p["email"]: p for p in record["participants"]}
    assert by_email["host@acme.example"]["attended"] is True
    assert by_email["host@acme.example"]["attended_seconds"] == 15 * 60
    assert by_email["bob@customer.example"]["attended"] is False


def test_open_sessions_of_a_meeting_whose_end_was_lost_close_at_the_planned_end(svc: RunningService) -> None:
    meeting = create(svc, "deal-real-3", [{"email": "bob@customer.example", "name": "Bob Buyer"}])
    alone: Sequence[Step] = (Start(at(0)), Join(at(0), HOST), End(at(36)))
    summary = play(svc, meeting, alone, WebhookFaults(drop_rate=1.0))
    # Only the start and the host's join arrive: the leave and meeting.ended are lost.
    with WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token) as sender:
        for event in summary.events[:2]:
            assert sender.deliver(event).delivered
    reconcile(svc)
    record = attendance(svc, meeting["id"])
    host = next(p for p in record["participants"] if p["email"] == "host@acme.example")
    # Not "up to now" (days later): closed at the planned end (30 minutes), the real end unknown.
    assert host["attended_seconds"] == 30 * 60
    assert record["actual_end"] == at(30).isoformat().replace("+00:00", "Z")
    assert record["completeness"] == "reconciled"
    assert "planned end" in record["completeness_reason"]


def test_the_meeting_id_started_again_a_week_later_is_a_meeting_of_its_own(svc: RunningService) -> None:
    meeting = create(svc, "deal-real-4", INVITEES)
    first = play(svc, meeting, SCRIPT, WebhookFaults(shuffle=True, seed=9))
    reconcile(svc)
    before = attendance(svc, meeting["id"])

    week_later = SCHEDULED + timedelta(days=7)
    again: Sequence[Step] = (
        Start(at(0, week_later)),
        Join(at(0, week_later), HOST),
        Join(at(1, week_later), BOB),
        Leave(at(20, week_later), BOB),
        End(at(21, week_later)),
    )
    play(svc, meeting, again, WebhookFaults(duplicate_rate=0.3, shuffle=True, seed=10))
    reconcile(svc)

    after = attendance(svc, meeting["id"])
    assert after["completeness"] == "reconciled"
    assert (after["actual_start"], after["actual_end"]) == (before["actual_start"], before["actual_end"])
    assert [(p["email"], p["attended_seconds"]) for p in after["participants"]] == [
        (p["email"], p["attended_seconds"]) for p in before["participants"]
    ]
    assert len([p for p in after["participants"] if p["sessions"]]) == len(first.ground_truth)
    listed = svc.client.get("/v1/meetings", params={"provider": "zoom", "limit": 50}, headers=auth()).json()
    discovered = [m for m in listed["items"] if m["origin"] == "provider"]
    assert len(discovered) == 1
    assert discovered[0]["provider_meeting_id"] == meeting["provider_meeting_id"]
    record = attendance(svc, discovered[0]["id"])
    by_email = {p["email"]: p for p in record["participants"]}
    assert by_email["host@acme.example"]["attended_seconds"] == 21 * 60
    # Bob's registration still identifies him (his e-mail shown as Zoom shows registrants').
    assert by_email["bob@customer.example"]["attended_seconds"] == 19 * 60


def test_without_registration_invitees_matched_by_name_come_out_exact(database_url: str) -> None:
    config = sandbox_config(sandbox_behaviour="real", register_external_attendees=False)
    twins = [
        {"email": "bob@customer.example", "name": "Bob Buyer"},
        {"email": "jose@customer.example", "name": "José Álvarez"},
        {"email": "sam.one@customer.example", "name": "Sam Lee"},
        {"email": "sam.two@customer.example", "name": "Sam Lee"},
    ]
    sam = ScriptPerson("Sam Lee", "sam.one@customer.example")
    script: Sequence[Step] = (
        Start(at(0)),
        Join(at(0), HOST),
        Join(at(1), ScriptPerson("BOB BUYER", "bob@customer.example")),
        Join(at(2), JOSE),
        Join(at(3), sam),
        Leave(at(9), JOSE),
        Join(at(11), JOSE),
        Leave(at(20), sam),
        End(at(30)),
    )
    with running_service(database_url, config=config) as svc:
        meeting = create(svc, "deal-real-5", twins)
        assert all(a["join_url"] is None for a in meeting["attendees"])
        summary = play(svc, meeting, script, WebhookFaults(drop_rate=0.3, shuffle=True, seed=4))
        reconcile(svc)
        record = attendance(svc, meeting["id"])
    start, end = at(0), at(30)
    by_email = {p["email"]: p for p in record["participants"] if p["email"]}
    for email in ("bob@customer.example", "jose@customer.example"):
        assert by_email[email]["identified_by"] == "name"
        assert by_email[email]["attended_seconds"] == union_seconds(summary.ground_truth[email], start, end)
    # "Sam Lee" names two invitees: the hidden Sam is unidentified, never given to either.
    assert by_email["sam.one@customer.example"]["attended_seconds"] == 0
    assert by_email["sam.two@customer.example"]["attended_seconds"] == 0
    unidentified = [p for p in record["participants"] if p["email"] is None]
    assert [p["attended_seconds"] for p in unidentified] == [17 * 60]
    assert unidentified[0]["classification"] == "unidentified"
