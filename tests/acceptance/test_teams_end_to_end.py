"""Teams end to end: the CRM creates a meeting on Teams, the emulator plays it (rejoins, a second
device, a guest, a phone, another tenant's user without e-mail), Graph's call record
notifications arrive duplicated, batched and partly lost, reconciliation reads the attendance
report, and the attendance record equals what really happened, to the second.

Graph validates the notification URL (`public_url` + `/webhooks/teams`) when the subscription is
made, so the service listens on a socket bound before the config is written: its `public_url` is
where it really is.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from integrations.sandbox.teams import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    NotificationFaults,
    NotificationSender,
    PersonKind,
    PlaySummary,
    ScriptPerson,
    Start,
    Step,
    TeamsEmulatorState,
    TruthSession,
)
from integrations.teams.adapter import TeamsProvider
from service.api.app import create_app
from service.bootstrap import build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.meeting import ProviderName
from service.storage.database import upgrade_database
from tests.support import RunningService, auth, meeting_body, sandbox_config

SCHEDULED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
OTHER_TENANT = "0e4e0000-0000-4000-8000-0000000000e4"
BOB = ScriptPerson(
    "Bob Buyer", PersonKind.EXTERNAL_USER, "Bob@Customer.Example", str(uuid.uuid4()), OTHER_TENANT
)
ERIK = ScriptPerson("Erik External", PersonKind.EXTERNAL_USER, None, str(uuid.uuid4()), OTHER_TENANT)
CARLA = ScriptPerson("Carla Colleague", PersonKind.TENANT_USER, "carla@acme.example", str(uuid.uuid4()))
GUEST = ScriptPerson("Gina Guest", PersonKind.GUEST)
PHONE = ScriptPerson("+49 30 ****123", PersonKind.PHONE)


def at(minutes: float) -> datetime:
    return SCHEDULED + timedelta(seconds=round(minutes * 60))


def script(host: ScriptPerson) -> Sequence[Step]:
    """The host starts 2 minutes late; Bob rejoins and adds his phone app; the guest rejoins (a new
    guest id each time); a dial-in; another tenant's user without e-mail; Carla leaves and returns."""
    return (
        Start(at(2)),
        Join(at(2), host),
        Join(at(3.25), BOB),
        Join(at(4), CARLA),
        Join(at(5), PHONE, device="phone"),
        Join(at(6), GUEST, device="browser"),
        Join(at(7), ERIK),
        Leave(at(11), BOB),
        Leave(at(12), GUEST, device="browser"),
        Join(at(12.5), BOB),
        Join(at(13), GUEST, device="browser"),
        Join(at(14), BOB, device="mobile"),
        Leave(at(20), BOB, device="mobile"),
        Leave(at(21), CARLA),
        Leave(at(25), PHONE, device="phone"),
        Join(at(26), CARLA),
        Leave(at(27), ERIK),
        Leave(at(33), host),
        End(at(34.5)),
    )


def teams_config(public_url: str) -> dict[str, Any]:
    config = sandbox_config(public_url=public_url)
    config["providers"] = {"teams": {"enabled": True, "sandbox": True, "reconcile_delay_seconds": 0}}
    config["routing"] = {"default": "teams"}
    return config


@contextmanager
def teams_service(database_url: str) -> Iterator[RunningService]:
    """The whole service on a socket bound first, so `public_url` is its real address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runtime = build_runtime(parse_config(teams_config(url)), Settings(database_url=database_url))
    upgrade_database(runtime.db.engine)
    app = create_app(runtime, run_worker=False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield RunningService(url, runtime, client, app)
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
        # The runtime does not close adapters; an idle TLS connection left in the adapter's pool
        # would hold the emulator's graceful shutdown until it times out.
        adapter = runtime.providers[ProviderName.TEAMS].parts.adapter
        assert isinstance(adapter, TeamsProvider)
        adapter.close()
        runtime.close()


@pytest.fixture
def svc(database_url: str) -> Iterator[RunningService]:
    with teams_service(database_url) as running:
        yield running


def emulator(svc: RunningService) -> TeamsEmulatorState:
    state = svc.runtime.sandbox_handle(ProviderName.TEAMS)
    assert isinstance(state, TeamsEmulatorState)
    return state


def host_person(state: TeamsEmulatorState) -> ScriptPerson:
    host = state.config.user("host@acme.example")
    assert host is not None
    return ScriptPerson("Hanna Host", PersonKind.TENANT_USER, host.upn, host.id)


def subscribe(svc: RunningService) -> None:
    """The renewal job makes the callRecords subscription; Graph validates it against the service."""
    svc.runtime.worker.run_periodic(force=True)
    (subscription,) = emulator(svc).live_subscriptions()
    assert subscription.notification_url == f"{svc.url}/webhooks/teams"
    assert emulator(svc).validation_results == [(f"{svc.url}/webhooks/teams", True)]


INVITED = ({"email": "bob@customer.example"}, {"email": "carla@acme.example"}, {"email": "no.show@x.example"})


def create_meeting(svc: RunningService, attendees: Sequence[dict[str, str]] = INVITED) -> dict[str, Any]:
    response = svc.client.post(
        "/v1/meetings",
        json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30, attendees=list(attendees)),
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    meeting: dict[str, Any] = response.json()
    assert meeting["provider"] == "teams"
    return meeting


def play(
    svc: RunningService, meeting: dict[str, Any], faults: NotificationFaults, updates: int
) -> PlaySummary:
    state = emulator(svc)
    online_meeting_id = str(meeting["provider_meeting_id"]).partition(":")[2]
    with NotificationSender(state.config) as sender:
        return MeetingPlayer(state, sender, faults).play(
            online_meeting_id, script(host_person(state)), updates=updates
        )


def union_seconds(sessions: Sequence[TruthSession], start: datetime, end: datetime) -> int:
    """Independent of the engine: covered seconds on a per-second grid (all times are whole seconds)."""
    covered: set[int] = set()
    for s in sessions:
        lo, hi = max(s.joined_at, start), min(s.left_at, end)
        covered.update(range(int(lo.timestamp()), int(hi.timestamp())))
    return len(covered)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


NAMES = {
    "name:Gina Guest": "Gina Guest",
    "name:+49 30 ****123": "+49 30 ****123",
    f"oid:{ERIK.object_id}": "Erik External",
}


def find(record: dict[str, Any], truth_key: str) -> dict[str, Any]:
    """The record's participant for a ground-truth key: by e-mail, else by the name Teams showed."""
    if truth_key in NAMES:
        return next(p for p in record["participants"] if p["email"] is None and p["name"] == NAMES[truth_key])
    return next(p for p in record["participants"] if p["email"] == truth_key)


def assert_matches_ground_truth(record: dict[str, Any], summary: PlaySummary) -> None:
    start, end = at(2), at(34.5)
    assert record["completeness"] == "reconciled"
    assert (record["actual_start"], record["actual_end"]) == (iso(start), iso(end))
    assert record["actual_duration_seconds"] == 32 * 60 + 30
    for key, truth in summary.ground_truth.items():
        participant = find(record, key)
        assert participant["attended_seconds"] == union_seconds(truth, start, end), key
        first_join = min(s.joined_at for s in truth)
        assert participant["first_join"] == iso(first_join), key
        assert participant["late_seconds"] == max(0, int((first_join - SCHEDULED).total_seconds())), key
    joined = [p for p in record["participants"] if p["sessions"]]
    assert len(joined) == len(summary.ground_truth) == 6
    assert all(
        p["attended_seconds"] == 0 and p["invited"] for p in record["participants"] if not p["sessions"]
    )


def test_duplicated_batched_and_lost_notifications_then_the_report_give_the_truth(
    svc: RunningService,
) -> None:
    subscribe(svc)
    meeting = create_meeting(svc)
    summary = play(
        svc, meeting, NotificationFaults(drop_rate=0.3, duplicate_rate=0.5, shuffle=True, seed=4), updates=5
    )
    items_posted = sum(len(d.items) for d in summary.deliveries)
    assert summary.dropped, "the fault plan must really lose notifications"
    assert items_posted > len(summary.notifications) - len(summary.dropped), "and really duplicate some"
    assert any(len(d.items) > 1 for d in summary.deliveries), "and batch them"
    assert all(d.delivered and d.statuses == (202,) for d in summary.deliveries)

    svc.runtime.worker.drain()  # resolves the notifications: fetches the call record
    path = f"/v1/meetings/{meeting['id']}/attendance"
    live = svc.client.get(path, headers=auth()).json()
    assert live["completeness"] == "live"
    assert (live["actual_start"], live["actual_end"]) == (iso(at(2)), iso(at(34.5)))
    # The call record is the whole meeting already: those it names by e-mail are right before reconciling.
    for key in ("host@acme.example", "carla@acme.example"):
        truth = summary.ground_truth[key]
        assert find(live, key)["attended_seconds"] == union_seconds(truth, at(2), at(34.5)), key

    svc.runtime.worker.run_periodic(force=True)  # reconciliation reads the attendance report
    svc.runtime.worker.drain()
    record = svc.client.get(path, headers=auth()).json()
    assert_matches_ground_truth(record, summary)

    bob = find(record, "bob@customer.example")
    assert bob["classification"] == "external" and bob["invited"] is True
    # Bob: 3:15-11:00, then 12:30 to the end at 34:30, with 14:00-20:00 on his phone app (counted once).
    assert bob["attended_seconds"] == (7 * 60 + 45) + 22 * 60 and len(bob["sessions"]) == 3
    assert find(record, "carla@acme.example")["classification"] == "internal"
    guest = find(record, "name:Gina Guest")
    assert (
        guest["classification"] == "unidentified" and guest["attended_seconds"] == 6 * 60 + (34.5 - 13) * 60
    )
    assert find(record, "name:+49 30 ****123")["attended_seconds"] == 20 * 60
    assert find(record, f"oid:{ERIK.object_id}")["attended_seconds"] == 20 * 60
    assert find(record, "host@acme.example")["late_seconds"] == 120
    assert (
        next(p for p in record["participants"] if p["email"] == "no.show@x.example")["attended_seconds"] == 0
    )
    assert svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth()).json()["status"] == "ended"


def test_every_notification_lost_the_report_alone_gives_the_record(svc: RunningService) -> None:
    subscribe(svc)
    meeting = create_meeting(svc)
    summary = play(svc, meeting, NotificationFaults(drop_rate=1.0, seed=1), updates=1)
    assert summary.deliveries == () and len(summary.dropped) == len(summary.notifications) == 2
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)  # the sweep finds a meeting whose end was never announced
    svc.runtime.worker.drain()
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert_matches_ground_truth(record, summary)


def test_update_and_cancel_reach_the_same_online_meeting(svc: RunningService) -> None:
    meeting = create_meeting(svc)
    state = emulator(svc)
    online_meeting_id = str(meeting["provider_meeting_id"]).partition(":")[2]
    moved = svc.client.patch(
        f"/v1/meetings/{meeting['id']}",
        json={"title": "Moved", "start": (SCHEDULED + timedelta(days=3)).isoformat()},
        headers=auth(),
    )
    assert moved.status_code == 200, moved.text
    held = state.meeting(online_meeting_id)
    assert held is not None and held.subject == "Moved" and held.start == SCHEDULED + timedelta(days=3)
    assert len(state.meetings) == 1
    assert svc.client.delete(f"/v1/meetings/{meeting['id']}", headers=auth()).status_code in (200, 204)
    assert state.meetings == {} and online_meeting_id in state.deleted_meeting_ids


def test_a_reauthorization_lifecycle_event_is_answered_through_the_service(svc: RunningService) -> None:
    subscribe(svc)
    state = emulator(svc)
    with NotificationSender(state.config) as sender:
        (delivery,) = MeetingPlayer(state, sender).send_lifecycle("reauthorizationRequired")
    assert delivery.statuses == (202,)
    svc.runtime.worker.drain()
    (subscription,) = state.live_subscriptions()
    assert subscription.reauthorized_count == 1


def test_a_guest_and_another_tenants_user_are_matched_to_their_invitations_by_name(
    svc: RunningService,
) -> None:
    """Teams shows an anonymous guest and a user of another tenant by display name only: invited
    under those names, they are the invitees (identified_by name), each one person across rejoins."""
    subscribe(svc)
    meeting = create_meeting(
        svc,
        [
            {"email": "bob@customer.example"},
            {"email": "carla@acme.example"},
            {"email": "gina@guests.example", "name": "GINA  guest"},
            {"email": "erik@partner.example", "name": "Erik Externál"},
        ],
    )
    summary = play(svc, meeting, NotificationFaults(seed=2), updates=1)
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()

    start, end = at(2), at(34.5)
    for email, truth_key in (
        ("gina@guests.example", "name:Gina Guest"),
        ("erik@partner.example", f"oid:{ERIK.object_id}"),
    ):
        (invitee,) = [p for p in record["participants"] if p["email"] == email]
        assert invitee["identified_by"] == "name" and invitee["invited"] is True, invitee
        assert invitee["classification"] == "external"
        assert invitee["attended_seconds"] == union_seconds(summary.ground_truth[truth_key], start, end)
    unmatched = [p["name"] for p in record["participants"] if p["email"] is None]
    assert unmatched == ["+49 30 ****123"]  # the dial-in names nobody invited: it stays unidentified
