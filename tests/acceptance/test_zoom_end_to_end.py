"""Zoom end to end: the CRM creates a meeting, Zoom plays it with lossy webhooks, the report repairs
what was lost, and the attendance record equals what really happened, to the second."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

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
    WebhookFaults,
)
from integrations.sandbox.zoom.webhooks import WebhookSender
from tests.support import RunningService, auth, meeting_body, running_service

SCHEDULED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
HOST = ScriptPerson("Hanna Host", "host@acme.example", "u_sandbox0000")
BOB = ScriptPerson("Bob Buyer", "Bob@Customer.Example")
CARLA = ScriptPerson("Carla Colleague", "carla@eu.acme.example")
PHONE = ScriptPerson("+49 30 ****123")
LURKER = ScriptPerson("Lars Late", "lars@customer.example")


def at(minutes: float) -> datetime:
    return SCHEDULED + timedelta(seconds=round(minutes * 60))


# The host starts 2 minutes late; rejoins, a second device overlapping the first, a phone dial-in,
# someone still connected when the host ends the meeting, someone who stays 40 s.
SCRIPT: Sequence[Step] = (
    Start(at(2)),
    Join(at(2), HOST),
    Join(at(3.25), BOB),
    Join(at(4), CARLA),
    Join(at(5), PHONE, device="phone"),
    Leave(at(11), BOB),
    Join(at(12.5), BOB),
    Join(at(14), BOB, device="mobile"),
    Leave(at(20), BOB, device="mobile"),
    Leave(at(21), CARLA),
    Join(at(22), LURKER),
    Leave(at(22 + 40 / 60), LURKER),
    Leave(at(25), PHONE, device="phone"),
    Join(at(26), CARLA),
    Leave(at(33), HOST),
    End(at(34.5)),
)


@pytest.fixture
def svc(database_url: str) -> Iterator[RunningService]:
    with running_service(database_url) as running:
        yield running


def play(svc: RunningService, meeting: dict[str, object], faults: WebhookFaults) -> PlaySummary:
    sender = WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
    with sender:
        return MeetingPlayer(svc.zoom, sender, faults).play(int(str(meeting["provider_meeting_id"])), SCRIPT)


def union_seconds(sessions: Sequence[TruthSession], start: datetime, end: datetime) -> int:
    """Independent of the engine: count covered seconds on a per-second grid (all times are whole seconds)."""
    covered: set[int] = set()
    for s in sessions:
        lo, hi = max(s.joined_at, start), min(s.left_at, end)
        covered.update(range(int(lo.timestamp()), int(hi.timestamp())))
    return len(covered)


def assert_matches_ground_truth(
    svc: RunningService, meeting_id: str, summary: PlaySummary
) -> dict[str, object]:
    record = svc.client.get(f"/v1/meetings/{meeting_id}/attendance", headers=auth()).json()
    start, end = at(2), at(34.5)
    assert record["completeness"] == "reconciled"
    assert record["actual_start"] == start.isoformat().replace("+00:00", "Z")
    assert record["actual_end"] == end.isoformat().replace("+00:00", "Z")
    assert record["actual_duration_seconds"] == 32 * 60 + 30
    by_key = {p["email"] or f"id:{p['name']}": p for p in record["participants"]}
    for key, truth in summary.ground_truth.items():
        participant = next(
            p
            for p in record["participants"]
            if (p["email"] == key) or (p["email"] is None and key.startswith("id:"))
        )
        assert participant["attended_seconds"] == union_seconds(truth, start, end), key
        first_join = min(s.joined_at for s in truth)
        assert participant["first_join"] == first_join.isoformat().replace("+00:00", "Z"), key
        assert participant["late_seconds"] == max(0, int((first_join - SCHEDULED).total_seconds())), key
    joined = [p for p in record["participants"] if p["sessions"]]
    assert len(joined) == len(summary.ground_truth)
    assert all(
        p["attended_seconds"] == 0 and p["invited"] for p in record["participants"] if not p["sessions"]
    )
    return by_key


def test_lossy_shuffled_webhooks_are_repaired_by_the_report(svc: RunningService) -> None:
    meeting = svc.client.post(
        "/v1/meetings",
        json=meeting_body(
            start=SCHEDULED.isoformat(),
            duration_minutes=30,
            attendees=[
                {"email": "bob@customer.example"},
                {"email": "carla@eu.acme.example"},
                {"email": "no.show@x.example"},
            ],
        ),
        headers=auth(),
    ).json()
    summary = play(
        svc, meeting, WebhookFaults(drop_rate=0.2, duplicate_rate=0.2, late_rate=0.1, shuffle=True, seed=7)
    )
    assert summary.dropped, "the fault plan must really drop deliveries"
    assert len(summary.sent) > len(summary.events) - len(summary.dropped), "and really duplicate some"

    svc.runtime.worker.drain()
    live = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert live["completeness"] == "live"

    # Reconciliation: after meeting.ended (or, if that was dropped, the sweep for unannounced ends).
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()
    by_key = assert_matches_ground_truth(svc, meeting["id"], summary)

    bob = by_key["bob@customer.example"]
    assert bob["classification"] == "external" and bob["invited"] is True
    # Bob: 3:15-11:00, then 12:30 until the end at 34:30, with 14:00-20:00 on a second device (counted once).
    assert bob["attended_seconds"] == (7 * 60 + 45) + 22 * 60
    assert len(bob["sessions"]) == 3
    assert by_key["lars@customer.example"]["attended"] is False  # 40 s < 60 s
    assert by_key["no.show@x.example"]["attended_seconds"] == 0
    phone = next(
        p
        for p in svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()[
            "participants"
        ]
        if p["email"] is None
    )
    assert phone["classification"] == "unidentified" and phone["attended_seconds"] == 20 * 60
    host = by_key["host@acme.example"]
    assert host["attended_seconds"] == 31 * 60
    assert host["late_seconds"] == 120
    meeting_now = svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth()).json()
    assert meeting_now["status"] == "ended"


def test_every_webhook_lost_the_report_alone_gives_the_record(svc: RunningService) -> None:
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    summary = play(svc, meeting, WebhookFaults(drop_rate=1.0, seed=1))
    assert len(summary.dropped) == len(summary.events)
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)  # the sweep finds a meeting whose end was never announced
    svc.runtime.worker.drain()
    assert_matches_ground_truth(svc, meeting["id"], summary)


def test_duplicates_and_any_order_without_loss_give_the_truth_before_reconciliation(
    svc: RunningService,
) -> None:
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    summary = play(svc, meeting, WebhookFaults(duplicate_rate=0.5, shuffle=True, seed=3))
    assert not summary.dropped
    svc.runtime.worker.drain()
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert record["completeness"] == "live"
    start, end = at(2), at(34.5)
    assert (record["actual_start"], record["actual_end"]) == (
        start.isoformat().replace("+00:00", "Z"),
        end.isoformat().replace("+00:00", "Z"),
    )
    by_email = {p["email"]: p for p in record["participants"] if p["email"]}
    identified = {k for k in summary.ground_truth if not k.startswith("id:")}
    assert identified and identified <= set(by_email)
    for key in identified:
        assert by_email[key]["attended_seconds"] == union_seconds(summary.ground_truth[key], start, end), key


def test_zoom_validates_the_endpoint_and_admin_sees_the_last_webhook(svc: RunningService) -> None:
    providers = svc.client.get("/v1/admin/providers", headers=auth("test-admin-key")).json()
    assert providers[0]["last_webhook_at"] is None
    sender = WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
    with sender:
        assert sender.send_url_validation().accepted
    forged = WebhookSender(f"{svc.url}/webhooks/zoom", "not-the-secret")
    with forged:
        refused = forged.send_url_validation()
    assert not refused.accepted and refused.status == 401  # the handshake is verified first too

    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    play(svc, meeting, WebhookFaults())
    providers = svc.client.get("/v1/admin/providers", headers=auth("test-admin-key")).json()
    assert providers[0]["last_webhook_at"] is not None


def test_a_meeting_started_again_after_its_report_is_reconciled_over_both_instances(
    svc: RunningService,
) -> None:
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    first = play(svc, meeting, WebhookFaults(drop_rate=0.2, shuffle=True, seed=11))
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()
    path = f"/v1/meetings/{meeting['id']}/attendance"
    assert svc.client.get(path, headers=auth()).json()["completeness"] == "reconciled"

    # The host starts the same Zoom meeting again an hour later: a second instance.
    restart = at(90)
    second_script: Sequence[Step] = (
        Start(restart),
        Join(restart, HOST),
        Join(restart + timedelta(seconds=30), BOB),
        Leave(restart + timedelta(minutes=12), BOB),
        End(restart + timedelta(minutes=15)),
    )
    sender = WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
    with sender:
        second = MeetingPlayer(
            svc.zoom, sender, WebhookFaults(duplicate_rate=0.3, shuffle=True, seed=12)
        ).play(int(meeting["provider_meeting_id"]), second_script)
    svc.runtime.worker.drain()
    assert svc.client.get(path, headers=auth()).json()["completeness"] == "live"  # reopened
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()

    record = svc.client.get(path, headers=auth()).json()
    assert record["completeness"] == "reconciled"
    start, end = at(2), restart + timedelta(minutes=15)
    assert (record["actual_start"], record["actual_end"]) == (
        start.isoformat().replace("+00:00", "Z"),
        end.isoformat().replace("+00:00", "Z"),
    )
    for key in ("host@acme.example", "bob@customer.example"):
        truth = list(first.ground_truth[key]) + list(second.ground_truth[key])
        participant = next(p for p in record["participants"] if p["email"] == key)
        assert participant["attended_seconds"] == union_seconds(truth, start, end), key


def test_a_personal_room_used_twice_is_two_meetings(svc: RunningService) -> None:
    """A meeting created on Zoom directly (a rep's personal room) and used on two days."""
    host = svc.zoom.config.users[0]
    room = svc.zoom.add_meeting(host, topic="Hanna's personal room", start_time=None, type=3)
    days = (at(-24 * 60), at(0))
    played = []
    sender = WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
    with sender:
        for day, guest in zip(days, (BOB, LURKER), strict=True):
            script: Sequence[Step] = (
                Start(day),
                Join(day, HOST),
                Join(day + timedelta(minutes=1), guest),
                Leave(day + timedelta(minutes=20), guest),
                End(day + timedelta(minutes=25)),
            )
            played.append(
                MeetingPlayer(svc.zoom, sender, WebhookFaults(drop_rate=0.2, seed=5)).play(room.id, script)
            )
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()

    listed = svc.client.get("/v1/meetings", params={"provider": "zoom"}, headers=auth()).json()["items"]
    rooms = [m for m in listed if m["provider_meeting_id"] == str(room.id)]
    assert len(rooms) == 2
    for meeting, summary, day in zip(rooms, played, days, strict=True):
        assert meeting["origin"] == "provider" and meeting["kind"] == "customer"
        assert meeting["title"] == "Hanna's personal room"
        record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
        assert record["completeness"] == "reconciled"
        start, end = day, day + timedelta(minutes=25)
        assert {p["email"] for p in record["participants"]} == set(summary.ground_truth)
        for p in record["participants"]:
            assert p["attended_seconds"] == union_seconds(summary.ground_truth[p["email"]], start, end)


def test_while_a_restarted_meeting_runs_it_is_live_and_not_reconciled(svc: RunningService) -> None:
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    play(svc, meeting, WebhookFaults())
    svc.runtime.worker.drain()
    # Started again and still running (no End): the first instance's end no longer ends the meeting.
    restart = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    sender = WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
    with sender:
        MeetingPlayer(svc.zoom, sender).play(
            int(meeting["provider_meeting_id"]), (Start(restart), Join(restart, HOST), Join(restart, BOB))
        )
    svc.runtime.worker.drain()
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert record["actual_end"] is None and record["completeness"] == "live"
    bob = next(p for p in record["participants"] if p["email"] == "bob@customer.example")
    assert bob["sessions"][-1]["left_at"] is None  # still in the call
    assert bob["attended_seconds"] >= 10 * 60 + (7 * 60 + 45)  # first instance + the running one
    assert svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth()).json()["status"] == "started"


def test_dial_ins_of_two_instances_stay_two_people(svc: RunningService) -> None:
    """Zoom numbers participants afresh in each instance: a restart's dial-in reuses an id."""
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    second_caller = ScriptPerson("+44 20 ****987")
    plays = []
    sender = WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token)
    with sender:
        for begin, caller, minutes in ((at(0), PHONE, 10), (at(60), second_caller, 4)):
            script: Sequence[Step] = (
                Start(begin),
                Join(begin, caller, device="phone"),
                Leave(begin + timedelta(minutes=minutes), caller, device="phone"),
                End(begin + timedelta(minutes=20)),
            )
            plays.append(MeetingPlayer(svc.zoom, sender).play(int(meeting["provider_meeting_id"]), script))
    first_ids = {
        s.participant_user_id
        for i in svc.zoom.meetings[int(meeting["provider_meeting_id"])].instances[:1]
        for s in i.sessions
    }
    second_ids = {
        s.participant_user_id
        for i in svc.zoom.meetings[int(meeting["provider_meeting_id"])].instances[1:]
        for s in i.sessions
    }
    assert first_ids == second_ids, "the emulator reuses per-meeting ids across instances, as Zoom does"
    for reconcile in (False, True):
        if reconcile:
            svc.runtime.worker.run_periodic(force=True)
        svc.runtime.worker.drain()
        record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
        callers = sorted(
            (p["name"], p["attended_seconds"])
            for p in record["participants"]
            if p["classification"] == "unidentified"
        )
        assert callers == [("+44 20 ****987", 4 * 60), ("+49 30 ****123", 10 * 60)], record["completeness"]


def test_a_restart_known_only_from_one_late_leave_still_reopens_and_reconciles(svc: RunningService) -> None:
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    first = play(svc, meeting, WebhookFaults())
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()
    path = f"/v1/meetings/{meeting['id']}/attendance"
    assert svc.client.get(path, headers=auth()).json()["completeness"] == "reconciled"

    restart = at(90)
    second = MeetingPlayer(svc.zoom).play(  # recorded by Zoom; its webhooks all lost but one
        int(meeting["provider_meeting_id"]),
        (
            Start(restart),
            Join(restart, BOB),
            Leave(restart + timedelta(minutes=5), BOB),
            End(restart + timedelta(minutes=6)),
        ),
    )
    leave = next(e for e in second.events if e.event == "meeting.participant_left")
    with WebhookSender(f"{svc.url}/webhooks/zoom", ZoomEmulatorConfig().webhook_secret_token) as sender:
        assert sender.deliver(leave).delivered
    svc.runtime.worker.drain()
    assert svc.client.get(path, headers=auth()).json()["completeness"] == "live"

    svc.runtime.worker.run_periodic(force=True)  # the sweep: its end was never announced
    svc.runtime.worker.drain()
    record = svc.client.get(path, headers=auth()).json()
    assert record["completeness"] == "reconciled"
    start, end = at(2), restart + timedelta(minutes=6)
    truth = list(first.ground_truth["bob@customer.example"]) + list(
        second.ground_truth["bob@customer.example"]
    )
    bob = next(p for p in record["participants"] if p["email"] == "bob@customer.example")
    assert bob["attended_seconds"] == union_seconds(truth, start, end)
