"""Google Meet end to end: the CRM creates a meeting (a Calendar event with a Meet conference), the
emulator plays it (rejoins, two devices, an anonymous guest, a phone caller, a signed-in user from
outside the domain) with Pub/Sub pushes duplicated, shuffled and some dropped; the worker resolves
the pushes through the Meet REST API, reconciles from participantSessions, and the attendance
record equals what really happened, to the second. SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integrations.sandbox.meet.config import WorkspaceUser
from integrations.sandbox.meet.player import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    PersonKind,
    PlaySummary,
    PushFaults,
    ScriptPerson,
    Start,
    Step,
    TruthSession,
)
from integrations.sandbox.meet.pushes import PushSender
from integrations.sandbox.meet.state import MeetEmulatorState
from service.domain.meeting import ProviderName
from service.storage.tables import webhook_deliveries
from tests.support import RunningService, auth, meeting_body, running_service, sandbox_config

SCHEDULED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
CARLA_USER = WorkspaceUser("carla@acme.example", "100000000000000000777", "Carla Colleague")


def at(minutes: float) -> datetime:
    return SCHEDULED + timedelta(seconds=round(minutes * 60))


def meet_config() -> dict[str, Any]:
    config = sandbox_config()
    config["providers"] = {"meet": {"enabled": True, "sandbox": True, "reconcile_delay_seconds": 0}}
    config["routing"] = {"default": "meet"}
    return config


@pytest.fixture
def svc(database_url: str) -> Iterator[RunningService]:
    with running_service(database_url, config=meet_config()) as running:
        # Carla is a colleague with a Workspace account (the Directory knows her).
        state = google(running)
        state.config = replace(state.config, users=(*state.config.users, CARLA_USER))
        yield running


def google(svc: RunningService) -> MeetEmulatorState:
    state = svc.runtime.sandbox_handle(ProviderName.MEET)
    assert isinstance(state, MeetEmulatorState)
    return state


def people(state: MeetEmulatorState) -> dict[str, ScriptPerson]:
    host = next(u for u in state.config.users if u.email == "host@acme.example")
    return {
        "host": ScriptPerson("Hanna Host", user_id=host.id, email=host.email),
        "carla": ScriptPerson(CARLA_USER.full_name, user_id=CARLA_USER.id, email=CARLA_USER.email),
        "bob": ScriptPerson("Bob Buyer", user_id="300000000000000000042"),  # signed in, not in our Directory
        "guest": ScriptPerson("Gus Guest", kind=PersonKind.ANONYMOUS),
        "phone": ScriptPerson("+49 30 ****123", kind=PersonKind.PHONE),
        "lurker": ScriptPerson("Lars Late", kind=PersonKind.ANONYMOUS),
    }


def script(who: dict[str, ScriptPerson]) -> Sequence[Step]:
    """The host starts 2 minutes late; rejoins, a second device overlapping the first, a guest, a
    phone caller, an external signed-in user, someone still in when the meeting ends, a 40 s visit."""
    host, carla, bob, guest, phone, lurker = (
        who[k] for k in ("host", "carla", "bob", "guest", "phone", "lurker")
    )
    return (
        Start(at(2)),
        Join(at(2), host),
        Join(at(3.25), bob),
        Join(at(4), carla),
        Join(at(5), phone, device="phone"),
        Leave(at(11), bob),
        Join(at(12.5), bob),
        Join(at(14), bob, device="mobile"),
        Leave(at(20), bob, device="mobile"),
        Leave(at(21), carla),
        Join(at(22), lurker),
        Leave(at(22 + 40 / 60), lurker),
        Join(at(23), guest),
        Leave(at(25), phone, device="phone"),
        Join(at(26), carla),
        Leave(at(33), host),
        End(at(34.5)),
    )


def union_seconds(sessions: Sequence[TruthSession], start: datetime, end: datetime) -> int:
    """Independent of the engine: count covered seconds on a per-second grid (all times are whole seconds)."""
    covered: set[int] = set()
    for s in sessions:
        lo, hi = max(s.joined_at, start), min(s.left_at, end)
        covered.update(range(int(lo.timestamp()), int(hi.timestamp())))
    return len(covered)


def names_by_truth_key(
    state: MeetEmulatorState, summary: PlaySummary, who: dict[str, ScriptPerson]
) -> dict[str, str]:
    """The display name for each ground-truth key (the API shows no provider ids)."""
    record = state.record(summary.record_name.removeprefix("conferenceRecords/"))
    assert record is not None
    names = {f"id:{summary.record_name}/participants/{p.id}": p.display_name for p in record.participants}
    names.update({f"id:users/{p.user_id}": p.name for p in who.values() if p.user_id})
    return names


def play(
    svc: RunningService, meeting: dict[str, Any], faults: PushFaults
) -> tuple[PlaySummary, dict[str, str]]:
    state = google(svc)
    config = state.config
    sender = PushSender(
        f"{svc.url}/webhooks/google",
        config.push_signing_key,
        audience=config.push_audience or "",
        service_account=config.push_service_account,
        subscription=config.pubsub_subscription,
    )
    who = people(state)
    with sender:
        summary = MeetingPlayer(state, sender, faults).play(str(meeting["provider_meeting_id"]), script(who))
    return summary, names_by_truth_key(state, summary, who)


def create_meeting(svc: RunningService, attendees: list[dict[str, str]]) -> dict[str, Any]:
    created = svc.client.post(
        "/v1/meetings",
        json=meeting_body(
            provider="meet", start=SCHEDULED.isoformat(), duration_minutes=30, attendees=attendees
        ),
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    meeting: dict[str, Any] = created.json()
    return meeting


def test_lossy_shuffled_pushes_are_repaired_from_participant_sessions(svc: RunningService) -> None:
    state = google(svc)
    # The subscription job subscribes to the organizers before any meeting is held.
    svc.runtime.worker.run_periodic(force=True)
    assert [s.target_resource for s in state.live_subscriptions()] == [
        f"//cloudidentity.googleapis.com/users/{u.id}"
        for u in state.config.users
        if u.email == "host@acme.example"
    ]

    invited = ["bob@customer.example", "carla@acme.example", "no.show@x.example"]
    meeting = create_meeting(svc, [{"email": email} for email in invited])
    assert meeting["provider"] == "meet"
    assert meeting["join_url"] == f"https://meet.google.com/{meeting['provider_meeting_id']}"
    assert state.conferences_created == 1

    summary, names = play(svc, meeting, PushFaults(drop_rate=0.2, duplicate_rate=0.3, shuffle=True, seed=7))
    assert summary.dropped, "the fault plan must really drop pushes"
    assert len(summary.sent) > len(summary.messages) - len(summary.dropped), "and really duplicate some"
    assert not summary.unsubscribed

    svc.runtime.worker.drain()
    path = f"/v1/meetings/{meeting['id']}/attendance"
    assert svc.client.get(path, headers=auth()).json()["completeness"] == "live"

    svc.runtime.worker.run_periodic(
        force=True
    )  # reconciliation from conferenceRecords -> participantSessions
    svc.runtime.worker.drain()
    record = svc.client.get(path, headers=auth()).json()

    start, end = at(2), at(34.5)
    assert record["completeness"] == "reconciled"
    assert record["actual_start"] == start.isoformat().replace("+00:00", "Z")
    assert record["actual_end"] == end.isoformat().replace("+00:00", "Z")
    assert record["actual_duration_seconds"] == 32 * 60 + 30
    by_email = {p["email"]: p for p in record["participants"] if p["email"]}
    by_name = {p["name"]: p for p in record["participants"] if not p["email"]}
    for key, truth in summary.ground_truth.items():
        participant = by_email[key] if not key.startswith("id:") else by_name[names[key]]
        assert participant["attended_seconds"] == union_seconds(truth, start, end), key
        first_join = min(s.joined_at for s in truth)
        assert participant["first_join"] == first_join.isoformat().replace("+00:00", "Z"), key
        assert participant["late_seconds"] == max(0, int((first_join - SCHEDULED).total_seconds())), key
    assert len([p for p in record["participants"] if p["sessions"]]) == len(summary.ground_truth)

    host = by_email["host@acme.example"]
    assert host["attended_seconds"] == 31 * 60 and host["late_seconds"] == 120
    carla = by_email["carla@acme.example"]
    assert carla["classification"] == "internal" and carla["invited"] is True
    bob = by_name["Bob Buyer"]  # outside the Directory: known by his Google user id only
    assert bob["classification"] == "unidentified"
    assert bob["attended_seconds"] == (7 * 60 + 45) + 22 * 60 and len(bob["sessions"]) == 3
    assert by_name["+49 30 ****123"]["attended_seconds"] == 20 * 60
    assert by_name["Lars Late"]["attended"] is False  # 40 s < 60 s
    assert by_name["Gus Guest"]["attended_seconds"] == (34.5 - 23) * 60
    assert by_email["no.show@x.example"]["attended_seconds"] == 0
    assert svc.client.get(f"/v1/meetings/{meeting['id']}", headers=auth()).json()["status"] == "ended"
    # The pushes' bearer tokens were checked, and are stored nowhere.
    with svc.runtime.db.read() as conn:
        stored = [dict(h) for h in conn.execute(select(webhook_deliveries.c.headers)).scalars()]
    assert stored and all("authorization" not in headers for headers in stored)


def test_every_push_lost_the_report_alone_gives_the_record(svc: RunningService) -> None:
    svc.runtime.worker.run_periodic(force=True)
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    summary, names = play(svc, meeting, PushFaults(drop_rate=1.0, seed=1))
    assert len(summary.dropped) == len(summary.messages)
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)  # the sweep finds a meeting whose end was never announced
    svc.runtime.worker.drain()
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert record["completeness"] == "reconciled"
    start, end = at(2), at(34.5)
    for key, truth in summary.ground_truth.items():
        participant = next(
            p
            for p in record["participants"]
            if p["email"] == key or (not p["email"] and p["name"] == names.get(key))
        )
        assert participant["attended_seconds"] == union_seconds(truth, start, end), key


def test_update_and_cancel_reach_the_calendar_event(svc: RunningService) -> None:
    meeting = svc.client.post(
        "/v1/meetings", json=meeting_body(start=SCHEDULED.isoformat(), duration_minutes=30), headers=auth()
    ).json()
    state = google(svc)
    (event,) = state.events.values()
    moved = svc.client.patch(
        f"/v1/meetings/{meeting['id']}", json={"title": "Renamed", "duration_minutes": 45}, headers=auth()
    )
    assert moved.status_code == 200, moved.text
    assert event.summary == "Renamed" and event.sequence == 1
    assert moved.json()["provider_meeting_id"] == meeting["provider_meeting_id"]
    cancelled = svc.client.delete(f"/v1/meetings/{meeting['id']}", headers=auth())
    assert cancelled.status_code == 200, cancelled.text
    assert state.events == {}


def test_a_meeting_in_a_space_salesmeet_did_not_create_is_discovered_and_reconciled(
    svc: RunningService,
) -> None:
    """Hanna opens a Meet link of her own: her user subscription still brings its events."""
    state = google(svc)
    svc.runtime.worker.run_periodic(force=True)
    host = next(u for u in state.config.users if u.email == "host@acme.example")
    space = state.add_space(host)
    sender = PushSender(
        f"{svc.url}/webhooks/google",
        state.config.push_signing_key,
        audience=state.config.push_audience or "",
        service_account=state.config.push_service_account,
        subscription=state.config.pubsub_subscription,
    )
    who = people(state)
    with sender:
        summary = MeetingPlayer(state, sender, PushFaults(drop_rate=0.3, seed=2)).play(
            space.meeting_code,
            (
                Start(at(0)),
                Join(at(0), who["host"]),
                Join(at(1), who["bob"]),
                Leave(at(9), who["bob"]),
                End(at(10)),
            ),
        )
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()
    listed = svc.client.get("/v1/meetings", params={"provider": "meet"}, headers=auth()).json()["items"]
    (meeting,) = [m for m in listed if m["provider_meeting_id"] == space.meeting_code]
    assert meeting["origin"] == "provider"
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()
    assert record["completeness"] == "reconciled"
    seconds = {p["email"] or p["name"]: p["attended_seconds"] for p in record["participants"]}
    assert seconds == {"host@acme.example": 10 * 60, "Bob Buyer": 8 * 60}
    assert summary.dropped and summary.sent, "some pushes lost, some delivered"


def test_people_meet_names_only_are_matched_to_their_invitations_by_name(svc: RunningService) -> None:
    """Meet shows a signed-in user outside the Directory and an anonymous guest by display name only:
    invited under those names, they are the invitees (identified_by name); who was not invited stays
    unidentified."""
    svc.runtime.worker.run_periodic(force=True)
    meeting = create_meeting(
        svc,
        [
            {"email": "bob@customer.example", "name": "bob BUYER"},
            {"email": "carla@acme.example"},
            {"email": "gus@guests.example", "name": "Güs Guest"},
        ],
    )
    summary, names = play(svc, meeting, PushFaults(seed=3))
    svc.runtime.worker.drain()
    svc.runtime.worker.run_periodic(force=True)
    svc.runtime.worker.drain()
    record = svc.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth()).json()

    start, end = at(2), at(34.5)
    truth_by_name = {
        names[key]: truth for key, truth in summary.ground_truth.items() if key.startswith("id:")
    }
    for email, name in (("bob@customer.example", "Bob Buyer"), ("gus@guests.example", "Gus Guest")):
        (invitee,) = [p for p in record["participants"] if p["email"] == email]
        assert invitee["identified_by"] == "name" and invitee["classification"] == "external", invitee
        assert invitee["attended_seconds"] == union_seconds(truth_by_name[name], start, end), email
    unmatched = sorted(p["name"] for p in record["participants"] if p["email"] is None)
    assert unmatched == ["+49 30 ****123", "Lars Late"]
