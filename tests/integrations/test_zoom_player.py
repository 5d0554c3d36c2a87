"""The meeting player: ground truth, signed webhooks exactly like Zoom's, reproducible faults."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from integrations.sandbox.zoom import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    PlaySummary,
    ScriptPerson,
    Start,
    TruthSession,
    WebhookFaults,
    WebhookSender,
)
from integrations.sandbox.zoom.player import Step
from tests.integrations.conftest import HOST, RunningZoom, WebhookReceiver

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
ALICE = ScriptPerson("Alice Seller", HOST.email, HOST.id)
CAROL = ScriptPerson("Carol Customer", "Carol@Customer.example")
PHONE = ScriptPerson("+44 20 **** 1234")


def _minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


SCRIPT: list[Step] = [
    Start(_minutes(0)),
    Join(_minutes(0), ALICE),
    Join(_minutes(3), CAROL),
    Leave(_minutes(10), CAROL),  # drops out...
    Join(_minutes(12), CAROL),  # ...and rejoins
    Join(_minutes(15), CAROL, device="phone"),  # second device
    Leave(_minutes(20), CAROL, device="phone"),
    Join(_minutes(21), PHONE),  # a dial-in guest: no email
    Leave(_minutes(25), PHONE),
    End(_minutes(30)),
]


def _meeting(zoom: RunningZoom) -> int:
    token = httpx.post(
        f"{zoom.url}/oauth/token",
        params={"grant_type": "account_credentials", "account_id": zoom.state.config.account_id},
        auth=(zoom.state.config.client_id, zoom.state.config.client_secret),
    ).json()["access_token"]
    body = {"topic": "Demo", "type": 2, "start_time": "2026-04-01T09:00:00Z", "duration": 30}
    answer = httpx.post(
        f"{zoom.url}/v2/users/me/meetings", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    meeting_id: int = answer.json()["id"]
    return meeting_id


def _play(zoom: RunningZoom, receiver: WebhookReceiver, faults: WebhookFaults | None = None) -> PlaySummary:
    with WebhookSender(receiver.url, zoom.state.config.webhook_secret_token, client_id="cid-1") as sender:
        return MeetingPlayer(zoom.state, sender, faults).play(_meeting(zoom), SCRIPT)


def test_ground_truth_sessions_to_the_second(zoom: RunningZoom, receiver: WebhookReceiver) -> None:
    summary = _play(zoom, receiver)
    phone_key = next(k for k in summary.ground_truth if k.startswith("id:"))
    assert summary.ground_truth[HOST.email] == (TruthSession(_minutes(0), _minutes(30), "desktop"),)
    assert summary.ground_truth["carol@customer.example"] == (
        TruthSession(_minutes(3), _minutes(10), "desktop"),
        TruthSession(_minutes(12), _minutes(30), "desktop"),
        TruthSession(_minutes(15), _minutes(20), "phone"),
    )
    assert summary.ground_truth[phone_key] == (TruthSession(_minutes(21), _minutes(25), "desktop"),)


def test_events_follow_the_script_and_everyone_leaves_at_the_end(
    zoom: RunningZoom, receiver: WebhookReceiver
) -> None:
    summary = _play(zoom, receiver)
    names = [event.event for event in summary.events]
    assert names[0] == "meeting.started" and names[-1] == "meeting.ended"
    assert names.count("meeting.participant_joined") == 5
    assert names.count("meeting.participant_left") == 5  # Alice and Carol left when it ended
    assert [json.loads(r.body) for r in receiver.received] == [json.loads(e.body) for e in summary.events]


def test_report_serves_the_played_sessions(zoom: RunningZoom, receiver: WebhookReceiver) -> None:
    summary = _play(zoom, receiver)
    instance = zoom.state.instance_by_uuid(summary.instance_uuid)
    assert instance is not None and instance.ended_at == _minutes(30)
    assert len(instance.sessions) == 5


def test_webhooks_are_signed_compact_and_shaped_like_zoom(
    zoom: RunningZoom, receiver: WebhookReceiver
) -> None:
    _play(zoom, receiver)
    secret = zoom.state.config.webhook_secret_token.encode()
    for hook in receiver.received:
        timestamp = hook.headers["x-zm-request-timestamp"]
        expected = hmac.new(secret, f"v0:{timestamp}:".encode() + hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["x-zm-signature"] == f"v0={expected}"
        assert len(timestamp) == 10 and timestamp.isdigit()
        assert hook.headers["content-type"] == "application/json; charset=utf-8"
        assert hook.headers["user-agent"] == "Zoom Marketplace/1.0a"
        assert hook.headers["x-zm-trackingid"]
        document = hook.json
        assert hook.body == json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        assert isinstance(document["event_ts"], int)
        assert document["payload"]["account_id"] == "acct-1"
        assert isinstance(document["payload"]["object"]["id"], str)
    joined = next(h.json for h in receiver.received if h.json["event"] == "meeting.participant_joined")
    participant = joined["payload"]["object"]["participant"]
    assert participant["join_time"] == "2026-04-01T09:00:00Z"
    assert participant["email"] == HOST.email and participant["id"] == HOST.id
    assert joined["event_ts"] == int(T0.timestamp() * 1000)
    guest = next(
        h.json["payload"]["object"]["participant"]
        for h in receiver.received
        if h.json["event"] == "meeting.participant_joined"
        and h.json["payload"]["object"]["participant"]["user_name"] == PHONE.name
    )
    assert guest["email"] == "" and guest["id"] == ""
    ended = receiver.received[-1].json
    assert ended["event"] == "meeting.ended"
    assert ended["payload"]["object"]["end_time"] == "2026-04-01T09:30:00Z"


def test_same_seed_same_faults(zoom: RunningZoom, receiver: WebhookReceiver) -> None:
    faults = WebhookFaults(drop_rate=0.2, duplicate_rate=0.3, late_rate=0.2, shuffle=True, seed=7)
    first = _play(zoom, receiver, faults)
    second = _play(zoom, receiver, faults)
    other_seed = _play(zoom, receiver, WebhookFaults(drop_rate=0.2, duplicate_rate=0.3, shuffle=True, seed=8))

    def shape(summary: PlaySummary) -> list[tuple[str, str]]:
        return [
            (e.event, json.dumps(e.payload["object"].get("participant", {}).get("user_name")))
            for e in summary.sent
        ]

    assert shape(first) == shape(second)
    assert shape(first) != shape(other_seed)
    sent_bodies = [e.body for e in first.sent]
    assert len(sent_bodies) > len(set(sent_bodies))  # some were duplicated
    assert first.dropped and len(first.dropped) == len(second.dropped)
    assert not {e.body for e in first.dropped} & set(sent_bodies)
    unique_in_sent_order = list(dict.fromkeys(sent_bodies))
    assert unique_in_sent_order != [e.body for e in first.events if e.body in set(sent_bodies)]


def test_unanswered_delivery_is_retried_three_times_then_dropped(
    zoom: RunningZoom, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 500, 500, 500, 503, 200]
    summary = _play(zoom, receiver)
    first, second = summary.deliveries[0], summary.deliveries[1]
    assert first.statuses == (500, 500, 500, 500) and not first.delivered
    assert second.statuses == (503, 200) and second.delivered
    assert summary.dropped == (first.event,)
    assert receiver.received[0].body == receiver.received[3].body


def test_sender_from_the_emulator_config(zoom: RunningZoom, receiver: WebhookReceiver) -> None:
    config = replace(zoom.state.config, webhook_target_url=receiver.url, webhook_retry_delays=(0.0,))
    receiver.statuses = [500, 500]
    with WebhookSender.for_config(config) as sender:
        summary = MeetingPlayer(zoom.state, sender).play(_meeting(zoom), SCRIPT[:2])
    assert summary.deliveries[0].statuses == (500, 500)  # one retry configured
    assert summary.deliveries[1].delivered
    assert receiver.received[0].headers["clientid"] == config.client_id


def test_url_validation_round_trip(zoom: RunningZoom, receiver: WebhookReceiver) -> None:
    with WebhookSender(receiver.url, zoom.state.config.webhook_secret_token) as sender:
        result = sender.send_url_validation("plain-123")
    with WebhookSender(receiver.url, "another-secret") as sender:
        refused = sender.send_url_validation("plain-123")
    assert result.accepted, result.detail
    assert not refused.accepted and refused.detail == "encryptedToken is wrong"
    hook = receiver.received[0]
    assert hook.json["event"] == "endpoint.url_validation"
    assert hook.json["payload"] == {"plainToken": "plain-123"}
