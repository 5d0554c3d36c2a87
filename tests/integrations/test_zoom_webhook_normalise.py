"""Zoom payloads to provider-neutral AttendanceEvents, and what counts as an invalid payload."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.zoom.webhook import (
    ZoomMeetingEvent,
    ZoomOtherEvent,
    ZoomPayloadError,
    delivery_key,
    normalise_zoom_event,
    parse_zoom_event,
)
from service.domain.events import AttendanceEvent, EventType
from service.domain.meeting import ProviderName

FIXTURES = Path(__file__).parent / "zoom_webhook_fixtures"
MEETING_UUID = "4444AAAiAAAAAiAiAiiAii=="


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return data


def encode(data: dict[str, Any]) -> bytes:
    # Zoom sends compact JSON with non-ASCII characters as UTF-8.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def only_event(body: bytes) -> AttendanceEvent:
    events = normalise_zoom_event(parse_zoom_event(body))
    assert len(events) == 1
    return events[0]


def participant_of(data: dict[str, Any]) -> dict[str, Any]:
    participant: dict[str, Any] = data["payload"]["object"]["participant"]
    return participant


def invalid(body: bytes) -> ZoomPayloadError:
    with pytest.raises(ZoomPayloadError) as caught:
        normalise_zoom_event(parse_zoom_event(body))
    error = caught.value
    assert error.code == "invalid_payload"
    # A clean message, not a chained parser traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


# --------------------------------------------------------------------------- the four events


def test_meeting_started() -> None:
    event = only_event((FIXTURES / "meeting_started.json").read_bytes())
    assert event.provider is ProviderName.ZOOM
    assert event.type is EventType.MEETING_STARTED
    assert event.provider_meeting_id == "85746065432"
    assert event.provider_meeting_instance == MEETING_UUID
    assert event.occurred_at == datetime(2025, 11, 6, 14, 5, tzinfo=UTC)
    assert event.meeting_title == "Acme Corp – discovery call"
    assert event.participant is None
    assert event.session_key is None
    assert event.host_email is None  # Zoom's meeting events carry host_id only
    assert event.event_key.startswith("meeting.started:")


def test_meeting_ended_with_a_numeric_meeting_id() -> None:
    event = only_event((FIXTURES / "meeting_ended.json").read_bytes())
    assert event.type is EventType.MEETING_ENDED
    assert event.provider_meeting_id == "85746065432"
    assert event.occurred_at == datetime(2025, 11, 6, 14, 39, 51, tzinfo=UTC)


def test_string_and_numeric_meeting_ids_normalise_alike() -> None:
    data = load("meeting_started.json")
    as_string = only_event(encode(data))
    data["payload"]["object"]["id"] = 85746065432
    as_number = only_event(encode(data))
    assert as_string.provider_meeting_id == as_number.provider_meeting_id == "85746065432"


def test_participant_joined() -> None:
    event = only_event((FIXTURES / "participant_joined.json").read_bytes())
    assert event.type is EventType.PARTICIPANT_JOINED
    assert event.occurred_at == datetime(2025, 11, 6, 14, 6, 40, tzinfo=UTC)
    assert event.participant is not None
    assert event.participant.email == "dana.mueller@acme.example"
    assert event.participant.name == "Dana Müller"
    assert event.participant.provider_participant_id == "iFxeBPYun6SAiWUzBcEkX"
    assert event.participant.key == "dana.mueller@acme.example"
    assert event.session_key is None
    assert event.provider_meeting_instance == MEETING_UUID


def test_participant_left() -> None:
    event = only_event((FIXTURES / "participant_left.json").read_bytes())
    assert event.type is EventType.PARTICIPANT_LEFT
    assert event.occurred_at == datetime(2025, 11, 6, 14, 38, 2, tzinfo=UTC)
    assert event.participant is not None
    assert event.participant.key == "dana.mueller@acme.example"


def test_a_guest_with_an_empty_email_is_identified_by_participant_id() -> None:
    event = only_event((FIXTURES / "guest_joined.json").read_bytes())
    assert event.participant is not None
    assert event.participant.email is None
    # Zoom numbers guests afresh in every instance, so the per-meeting id is scoped by the instance.
    uuid = load("guest_joined.json")["payload"]["object"]["uuid"]
    assert event.participant.provider_participant_id == f"{uuid}#16779264"
    assert event.participant.key == f"id:{uuid}#16779264"
    assert event.participant.name == "iPhone"


def test_participant_id_is_the_zoom_user_id_else_the_per_meeting_id_as_in_the_report() -> None:
    data = load("guest_joined.json")
    participant = participant_of(data)

    participant["participant_uuid"] = "9F8E7D6C-AAAA-BBBB-CCCC-DDDDEEEEFFFF"
    participant["id"] = "zoomUserId123"
    first = only_event(encode(data)).participant
    assert first is not None
    assert first.provider_participant_id == "zoomUserId123"

    del participant["participant_uuid"]
    participant["id"] = ""
    participant["user_id"] = 16779264  # a number in some payloads
    second = only_event(encode(data)).participant
    assert second is not None
    assert second.provider_participant_id == f"{data['payload']['object']['uuid']}#16779264"


def test_an_email_is_lower_cased_and_trimmed() -> None:
    data = load("participant_joined.json")
    participant_of(data)["email"] = "  Pat.Lee@Customer.EXAMPLE "
    participant = only_event(encode(data)).participant
    assert participant is not None
    assert participant.email == "pat.lee@customer.example"


def test_times_with_an_offset_are_normalised_to_utc() -> None:
    data = load("participant_joined.json")
    participant_of(data)["join_time"] = "2025-11-06T15:06:40+01:00"
    event = only_event(encode(data))
    assert event.occurred_at == datetime(2025, 11, 6, 14, 6, 40, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_a_host_email_is_kept_when_zoom_sends_one() -> None:
    data = load("meeting_started.json")
    data["payload"]["object"]["host_email"] = "Rep@Ourco.example"
    assert only_event(encode(data)).host_email == "rep@ourco.example"


# --------------------------------------------------------------------------- event keys


def test_a_redelivery_has_the_same_event_key_whatever_the_envelope_says() -> None:
    data = load("participant_joined.json")
    original = only_event(encode(data))

    data["event_ts"] += 3_600_000  # a retry an hour later may be stamped anew
    data["payload"]["object"]["unknown_new_field"] = {"added": "by Zoom later"}
    redelivered = only_event(json.dumps(data, indent=1).encode())

    assert redelivered.event_key == original.event_key


def test_each_event_of_a_meeting_has_its_own_key() -> None:
    names = ["meeting_started.json", "meeting_ended.json", "participant_joined.json"]
    names += ["participant_left.json", "guest_joined.json"]
    keys = {only_event((FIXTURES / name).read_bytes()).event_key for name in names}
    assert len(keys) == len(names)


def test_one_person_joining_from_two_devices_in_the_same_second_is_two_events() -> None:
    data = load("participant_joined.json")
    laptop = only_event(encode(data))
    participant_of(data)["user_id"] = "16780288"
    participant_of(data)["participant_uuid"] = "0000AAAA-1111-2222-3333-PHONEPHONE00"
    phone = only_event(encode(data))
    assert laptop.participant is not None and phone.participant is not None
    assert laptop.participant.key == phone.participant.key == "dana.mueller@acme.example"
    assert laptop.event_key != phone.event_key


def test_a_rejoin_at_another_time_is_another_event() -> None:
    data = load("participant_joined.json")
    first = only_event(encode(data))
    participant_of(data)["join_time"] = "2025-11-06T14:20:00Z"
    assert only_event(encode(data)).event_key != first.event_key


@given(seed=st.randoms(use_true_random=False), indent=st.sampled_from([None, 0, 2]))
def test_event_keys_depend_on_content_not_on_bytes(seed: Any, indent: int | None) -> None:
    data = load("participant_left.json")
    reference = only_event(encode(data)).event_key

    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            seed.shuffle(items)
            return {key: shuffled(inner) for key, inner in items}
        return value

    body = json.dumps(shuffled(data), indent=indent, ensure_ascii=bool(seed.getrandbits(1))).encode()
    assert only_event(body).event_key == reference


# --------------------------------------------------------------------------- ignored events


@pytest.mark.parametrize("name", ["recording_completed.json", "url_validation.json"])
def test_events_salesmeet_does_not_record_normalise_to_nothing(name: str) -> None:
    assert normalise_zoom_event(parse_zoom_event((FIXTURES / name).read_bytes())) == []


def test_an_unknown_event_with_any_payload_is_ignored_not_rejected() -> None:
    envelope = parse_zoom_event(b'{"event":"meeting.sharing_started","payload":{"object":{"id":true}}}')
    assert isinstance(envelope, ZoomOtherEvent)
    assert normalise_zoom_event(envelope) == []


def test_the_four_meeting_events_parse_to_the_typed_model() -> None:
    envelope = parse_zoom_event((FIXTURES / "participant_joined.json").read_bytes())
    assert isinstance(envelope, ZoomMeetingEvent)
    assert envelope.event_ts == 1762438000789
    assert envelope.payload.account_id == "AAAAAbbbbCCCCddddEEEE"


# --------------------------------------------------------------------------- invalid payloads


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'{"event": "meeting.started",', b"\xff\xfe\x00", b"[1, 2]", b'"meeting.started"'],
)
def test_a_body_that_is_not_a_json_object_is_invalid(body: bytes) -> None:
    assert invalid(body).message.startswith("the body is not")


@pytest.mark.parametrize("body", [b"{}", b'{"event": 7}', b'{"event": ""}', b'{"payload": {}}'])
def test_a_body_without_a_string_event_is_invalid(body: bytes) -> None:
    assert "'event'" in invalid(body).message


def mutated(name: str, change: Any) -> bytes:
    data = load(name)
    change(data)
    return encode(data)


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("name", "path", "value", "mentioned"),
    [
        ("meeting_started.json", "payload.object.start_time", _DELETE, "start_time"),
        ("meeting_started.json", "payload.object.start_time", "yesterday", "start_time"),
        ("meeting_ended.json", "payload.object.end_time", None, "end_time"),
        ("participant_joined.json", "payload.object.participant.join_time", _DELETE, "join_time"),
        (
            "participant_joined.json",
            "payload.object.participant.join_time",
            "2025-11-06T14:06:40",
            "join_time",
        ),
        ("participant_left.json", "payload.object.participant.leave_time", _DELETE, "leave_time"),
        ("participant_left.json", "payload.object.participant", _DELETE, "participant"),
        ("participant_joined.json", "payload.object.id", True, "payload.object.id"),
        ("participant_joined.json", "payload.object.id", 8.5, "payload.object.id"),
        ("participant_joined.json", "payload.object.uuid", "", "payload.object.uuid"),
        ("participant_joined.json", "payload.object.uuid", _DELETE, "payload.object.uuid"),
        ("participant_joined.json", "payload.object", _DELETE, "payload.object"),
        ("participant_joined.json", "payload", [], "payload"),
        ("participant_joined.json", "payload.object.participant.email", 42, "email"),
        ("participant_joined.json", "payload.object.topic", ["a"], "topic"),
    ],
)
def test_a_recorded_event_with_a_missing_or_mistyped_field_is_invalid(
    name: str, path: str, value: Any, mentioned: str
) -> None:
    error = invalid(mutated(name, _set(path, value)))
    assert mentioned in error.message
    assert "Traceback" not in error.message
    assert "https://errors.pydantic.dev" not in error.message


def test_a_participant_with_neither_email_nor_any_id_is_invalid() -> None:
    def anonymise(data: dict[str, Any]) -> None:
        participant = participant_of(data)
        participant.update(email="", id="", participant_uuid="", user_id="")

    message = invalid(mutated("guest_joined.json", anonymise)).message
    assert message == (
        "meeting.participant_joined: payload.object.participant has neither an email nor any id"
    )


def test_invalid_payload_messages_do_not_echo_field_values() -> None:
    data = load("participant_joined.json")
    participant_of(data)["join_time"] = "secret-looking-value-12345"
    assert "secret-looking-value-12345" not in invalid(encode(data)).message


# --------------------------------------------------------------------------- delivery keys


def test_delivery_key_identifies_the_exact_bytes() -> None:
    body = (FIXTURES / "participant_joined.json").read_bytes()
    envelope = parse_zoom_event(body)
    key = delivery_key(body, envelope)
    assert key == f"sha256:{hashlib.sha256(body).hexdigest()}"
    assert delivery_key(body) == key  # the ingest path may key a delivery before parsing it

    reformatted = json.dumps(json.loads(body), indent=2).encode()
    assert delivery_key(reformatted, parse_zoom_event(reformatted)) != key
