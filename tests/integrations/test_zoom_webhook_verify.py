"""Zoom webhook verification: real HMAC signatures computed here, a fixed clock, raw bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.zoom.webhook import (
    ZoomPayloadError,
    ZoomUrlValidation,
    ZoomVerificationError,
    parse_zoom_event,
    url_validation_response,
    verify_zoom_request,
)

FIXTURES = Path(__file__).parent / "zoom_webhook_fixtures"
SECRET = "wk3Jv9sQpR7tYxZ2bN5mL8cD"
PREVIOUS_SECRET = "oldSecretFromLastQuarter01"
NOW = 1_762_438_000.0
SIGNED_AT = "1762437995"  # five seconds before NOW


def sign(body: bytes, *, secret: str = SECRET, timestamp: str = SIGNED_AT) -> str:
    """Zoom's documented scheme, written out here rather than borrowed from the code under test."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: str = SIGNED_AT) -> dict[str, str]:
    return {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": sign(body, secret=secret, timestamp=timestamp),
        "x-zm-trackingid": "v=2.0,s=1762437995,t=abc123",
    }


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rejection(body: bytes, headers: dict[str, str], **kwargs: object) -> ZoomVerificationError:
    options: dict[str, object] = {"secret_token": SECRET, "now": NOW, **kwargs}
    with pytest.raises(ZoomVerificationError) as caught:
        verify_zoom_request(body=body, headers=headers, **options)  # type: ignore[arg-type]
    return caught.value


BODY = fixture("participant_joined.json")


def test_a_genuine_delivery_verifies() -> None:
    verify_zoom_request(body=BODY, headers=signed_headers(BODY), secret_token=SECRET, now=NOW)


def test_the_raw_bytes_are_signed_not_a_reserialised_parse() -> None:
    pretty = json.dumps(json.loads(BODY), indent=2, ensure_ascii=True).encode()
    verify_zoom_request(body=pretty, headers=signed_headers(pretty), secret_token=SECRET, now=NOW)

    compact_signature_on_pretty_body = signed_headers(BODY)
    assert rejection(pretty, compact_signature_on_pretty_body).code == "bad_signature"


def test_a_tampered_body_is_rejected() -> None:
    headers = signed_headers(BODY)
    tampered = BODY.replace(b"2025-11-06T14:06:40Z", b"2025-11-06T14:05:40Z")
    assert tampered != BODY
    assert rejection(tampered, headers).code == "bad_signature"


def test_a_signature_by_another_secret_is_rejected() -> None:
    assert rejection(BODY, signed_headers(BODY, secret="not-our-secret")).code == "bad_signature"


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    headers = signed_headers(BODY)
    headers["x-zm-request-timestamp"] = "1762437996"  # still fresh, but not what was signed
    assert rejection(BODY, headers).code == "bad_signature"


def test_a_garbage_signature_of_any_shape_is_just_a_bad_signature() -> None:
    for garbage in ("v0=", "v0=zz", "v1=" + "0" * 64, "é" * 70, sign(BODY).upper()):
        headers = signed_headers(BODY) | {"x-zm-signature": garbage}
        assert rejection(BODY, headers).code == "bad_signature"


def test_a_stale_delivery_is_rejected() -> None:
    signed_301_s_ago = str(int(NOW) - 301)
    error = rejection(BODY, signed_headers(BODY, timestamp=signed_301_s_ago))
    assert error.code == "stale_timestamp"
    assert "301 s ago" in error.message


def test_the_tolerance_is_inclusive_and_configurable() -> None:
    exactly_300_s_ago = str(int(NOW) - 300)
    verify_zoom_request(
        body=BODY, headers=signed_headers(BODY, timestamp=exactly_300_s_ago), secret_token=SECRET, now=NOW
    )
    error = rejection(BODY, signed_headers(BODY, timestamp=exactly_300_s_ago), tolerance_seconds=60)
    assert error.code == "stale_timestamp"


def test_a_delivery_from_the_future_is_rejected() -> None:
    error = rejection(BODY, signed_headers(BODY, timestamp=str(int(NOW) + 301)))
    assert error.code == "future_timestamp"
    # Small clock skew either way is tolerated.
    verify_zoom_request(
        body=BODY, headers=signed_headers(BODY, timestamp=str(int(NOW) + 30)), secret_token=SECRET, now=NOW
    )


@pytest.mark.parametrize(
    ("offset", "code", "said"),
    [(+301, "future_timestamp", "301 s in the future"), (-301, "stale_timestamp", "301 s ago")],
)
def test_the_message_states_the_age_that_failed_the_check(offset: int, code: str, said: str) -> None:
    # The clock is 0.6 s into its second; Zoom's timestamp has whole seconds only.
    timestamp = str(int(NOW) + offset)
    error = rejection(BODY, signed_headers(BODY, timestamp=timestamp), now=NOW + 0.6)
    assert error.code == code
    assert said in error.message


def test_replaying_a_captured_delivery_later_is_rejected_as_stale() -> None:
    captured_body, captured_headers = BODY, signed_headers(BODY)
    verify_zoom_request(body=captured_body, headers=captured_headers, secret_token=SECRET, now=NOW)

    an_hour_later = NOW + 3600
    error = rejection(captured_body, captured_headers, now=an_hour_later)
    assert error.code == "stale_timestamp"


@pytest.mark.parametrize("missing", ["x-zm-signature", "x-zm-request-timestamp"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_missing_headers_are_named(missing: str, how: str) -> None:
    headers = signed_headers(BODY)
    if how == "absent":
        del headers[missing]
    else:
        headers[missing] = ""
    expected = "missing_signature" if missing == "x-zm-signature" else "missing_timestamp"
    assert rejection(BODY, headers).code == expected


def test_no_headers_at_all_reports_the_signature_first() -> None:
    assert rejection(BODY, {}).code == "missing_signature"


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "1762437995.5", "-1762437995", "1.76e9", "١٧٦٢٤٣٧٩٩٥", "1" * 40, "0x69"],
)
def test_a_timestamp_that_is_not_epoch_seconds_is_malformed(timestamp: str) -> None:
    assert rejection(BODY, signed_headers(BODY, timestamp=timestamp)).code == "malformed_timestamp"


def test_header_names_are_matched_whatever_their_case() -> None:
    for spelling in (str.upper, str.title, lambda name: name):
        headers = {spelling(name): value for name, value in signed_headers(BODY).items()}
        verify_zoom_request(body=BODY, headers=headers, secret_token=SECRET, now=NOW)


def test_during_rotation_the_previous_secret_still_verifies() -> None:
    signed_with_previous = signed_headers(BODY, secret=PREVIOUS_SECRET)
    verify_zoom_request(
        body=BODY,
        headers=signed_with_previous,
        secret_token=SECRET,
        secret_tokens=[PREVIOUS_SECRET],
        now=NOW,
    )
    verify_zoom_request(
        body=BODY, headers=signed_headers(BODY), secret_tokens=[SECRET, PREVIOUS_SECRET], now=NOW
    )
    # Once the previous secret is retired, its signatures stop working.
    assert rejection(BODY, signed_with_previous).code == "bad_signature"


def test_error_messages_never_reveal_a_secret_or_the_expected_signature() -> None:
    cases = {
        "missing_signature": {},
        "malformed_timestamp": signed_headers(BODY, timestamp="soon"),
        "bad_signature": signed_headers(BODY, secret="wrong"),
        "stale_timestamp": signed_headers(BODY, timestamp=str(int(NOW) - 999)),
        "future_timestamp": signed_headers(BODY, timestamp=str(int(NOW) + 999)),
    }
    for code, headers in cases.items():
        error = rejection(BODY, headers, secret_tokens=[PREVIOUS_SECRET])
        assert error.code == code
        expected_signature = sign(BODY, timestamp=headers.get("x-zm-request-timestamp", SIGNED_AT))
        for text in (str(error), error.message, repr(error)):
            assert SECRET not in text
            assert PREVIOUS_SECRET not in text
            assert expected_signature[3:] not in text


def test_verification_never_parses_the_body() -> None:
    not_json = b"\xff\xfe this is not JSON {"
    verify_zoom_request(body=not_json, headers=signed_headers(not_json), secret_token=SECRET, now=NOW)
    assert rejection(not_json, signed_headers(not_json, secret="wrong")).code == "bad_signature"


def test_misconfigured_secrets_are_a_programming_error_not_a_rejection() -> None:
    headers = signed_headers(BODY)
    with pytest.raises(ValueError, match="no Zoom webhook secret"):
        verify_zoom_request(body=BODY, headers=headers, now=NOW)
    with pytest.raises(ValueError, match="empty"):
        verify_zoom_request(body=BODY, headers=headers, secret_token="", now=NOW)
    with pytest.raises(TypeError):
        verify_zoom_request(body=BODY, headers=headers, secret_tokens=SECRET, now=NOW)


@given(
    body=st.binary(max_size=4096),
    secret=st.text(min_size=1, max_size=64),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_any_body_signed_with_the_secret_verifies(body: bytes, secret: str, skew: int) -> None:
    timestamp = str(int(NOW) + skew)
    headers = signed_headers(body, secret=secret, timestamp=timestamp)
    verify_zoom_request(body=body, headers=headers, secret_token=secret, now=NOW)


@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_changing_any_byte_breaks_the_signature(body: bytes, data: st.DataObject) -> None:
    headers = signed_headers(body)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    assert rejection(tampered, headers).code == "bad_signature"


# --------------------------------------------------------------------------- handshake


def test_the_url_validation_handshake_is_verified_then_answered() -> None:
    body = fixture("url_validation.json")
    verify_zoom_request(body=body, headers=signed_headers(body), secret_token=SECRET, now=NOW)

    envelope = parse_zoom_event(body)
    assert isinstance(envelope, ZoomUrlValidation)
    answer = url_validation_response(envelope.payload, SECRET)

    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert answer == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert url_validation_response({"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, SECRET) == answer


def test_an_unsigned_handshake_is_rejected_before_it_is_answered() -> None:
    body = fixture("url_validation.json")
    assert rejection(body, {"content-type": "application/json"}).code == "missing_signature"


def test_a_handshake_without_a_plain_token_is_an_invalid_payload() -> None:
    for payload in ({}, {"plainToken": ""}, {"plainToken": 42}):
        with pytest.raises(ZoomPayloadError) as caught:
            url_validation_response(payload, SECRET)
        assert caught.value.code == "invalid_payload"
    with pytest.raises(ZoomPayloadError, match=r"payload\.plainToken"):
        parse_zoom_event(b'{"event":"endpoint.url_validation","payload":{}}')


# --------------------------------------------------------------------------- purity

_seen_audit_events: list[str] | None = None


def _record_audit_event(event: str, _args: tuple[object, ...]) -> None:
    if _seen_audit_events is not None:
        _seen_audit_events.append(event)


sys.addaudithook(_record_audit_event)  # hooks cannot be removed; it records only inside `audited`


@contextmanager
def audited() -> Iterator[list[str]]:
    global _seen_audit_events  # noqa: PLW0603 - the audit hook is process-wide by design
    _seen_audit_events = []
    try:
        yield _seen_audit_events
    finally:
        _seen_audit_events = None


def test_verifying_a_2_kb_body_is_pure_cpu() -> None:
    """No file, socket, subprocess, sleep or clock read: Python's audit hooks see all of those."""
    body = json.dumps({"event": "meeting.participant_joined", "pad": "x" * 2000}).encode()
    assert 2000 <= len(body) <= 2100
    headers = signed_headers(body)
    tampered = body[:-2] + b"y}"

    with audited() as events:
        verify_zoom_request(body=body, headers=headers, secret_token=SECRET, now=NOW)
        with pytest.raises(ZoomVerificationError):
            verify_zoom_request(body=tampered, headers=headers, secret_token=SECRET, now=NOW)

    assert events == []


def test_the_audit_hook_would_have_seen_io() -> None:
    with audited() as events:
        FIXTURES.joinpath("url_validation.json").read_bytes()
    assert "open" in events
