"""The Meet webhook's check: the Pub/Sub push's OIDC token, verified against the certificates the
emulator serves (fetched over loopback HTTP, cached), before anything is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from integrations.meet.push_auth import GoogleCertificates
from integrations.meet.webhook_check import PushCheck
from integrations.plugin import Accept, Reject, WebhookRequest
from integrations.sandbox.meet import PushMessage, SigningKey, oidc_token
from tests.integrations.meet_support import START, RunningGoogle, running_google

AUDIENCE = "https://salesmeet.acme.example/webhooks/google"
PUSHER = "pubsub-push@salesmeet-sandbox.iam.gserviceaccount.com"


@pytest.fixture
def google() -> Iterator[RunningGoogle]:
    with running_google(push_service_account=PUSHER) as running:
        yield running


def _check(google: RunningGoogle, certs_url: str | None = None) -> PushCheck:
    certificates = GoogleCertificates(certs_url or f"{google.url}/oauth2/v1/certs", timeout=5)
    return PushCheck(certificates, audience=AUDIENCE, service_account=PUSHER)


def _body(message_id: str = "4711") -> bytes:
    message = PushMessage(
        "google.workspace.meet.participant.v2.joined",
        "//meet.googleapis.com/spaces/abc",
        "spaces/abc",
        {"participantSession": {"name": "conferenceRecords/r/participants/p/participantSessions/s"}},
        START,
        message_id=message_id,
    )
    return message.body("projects/p/subscriptions/s", START)


def _request(token: str | None, body: bytes | None = None) -> WebhookRequest:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return WebhookRequest(_body() if body is None else body, headers)


def _token(google: RunningGoogle, key: SigningKey | None = None, **claims: Any) -> str:
    now = int(time.time())
    document: dict[str, Any] = {
        "aud": AUDIENCE,
        "azp": "1234",
        "email": PUSHER,
        "email_verified": True,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": "1234",
    }
    document.update(claims)
    return (key or google.state.config.push_signing_key).sign(document)


async def test_a_valid_push_is_accepted_for_resolution_keyed_by_its_message_id(google: RunningGoogle) -> None:
    token = oidc_token(google.state.config.push_signing_key, audience=AUDIENCE, email=PUSHER)
    verdict = await _check(google)(_request(token))
    assert verdict == Accept("pubsub:4711", needs_resolution=True)


async def test_the_short_issuer_form_is_google_too(google: RunningGoogle) -> None:
    verdict = await _check(google)(_request(_token(google, iss="accounts.google.com")))
    assert isinstance(verdict, Accept)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "https://salesmeet.acme.example/webhooks/zoom"}, "push_token_audience"),
        ({"iss": "https://evil.example"}, "push_token_issuer"),
        ({"email": "someone-else@salesmeet-sandbox.iam.gserviceaccount.com"}, "push_token_email"),
        ({"email_verified": False}, "push_token_email"),
        ({"iat": int(time.time()) - 7300, "exp": int(time.time()) - 3700}, "push_token_expired"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "push_token_expired"),
    ],
)
async def test_a_token_with_a_wrong_claim_is_refused(
    google: RunningGoogle, claims: dict[str, Any], code: str
) -> None:
    verdict = await _check(google)(_request(_token(google, **claims)))
    assert isinstance(verdict, Reject) and (verdict.status, verdict.code) == (401, code)


async def test_a_token_signed_by_another_key_is_refused(google: RunningGoogle) -> None:
    stranger = SigningKey.generate("evil.example")
    verdict = await _check(google)(_request(_token(google, key=stranger)))
    assert isinstance(verdict, Reject) and (verdict.status, verdict.code) == (401, "push_token_invalid")
    # The same key id on a different key: the signature itself fails.
    impostor = SigningKey(
        google.state.config.push_signing_key.key_id, stranger.private_pem, stranger.certificate_pem
    )
    verdict = await _check(google)(_request(_token(google, key=impostor)))
    assert isinstance(verdict, Reject) and verdict.message == "the push token's signature does not verify"


async def test_no_token_or_a_malformed_one_is_refused(google: RunningGoogle) -> None:
    for token in (None, "", "not-a-jwt"):
        verdict = await _check(google)(_request(token))
        assert isinstance(verdict, Reject) and verdict.status == 401


async def test_a_verified_push_without_a_message_id_is_a_bad_request(google: RunningGoogle) -> None:
    verdict = await _check(google)(_request(_token(google), body=b'{"message": {"data": ""}}'))
    assert isinstance(verdict, Reject) and (verdict.status, verdict.code) == (400, "push_body_invalid")
    verdict = await _check(google)(_request(None, body=b"garbage"))
    assert isinstance(verdict, Reject) and verdict.status == 401  # the token is checked first


async def test_certificates_are_fetched_once_and_cached(google: RunningGoogle) -> None:
    check = _check(google)
    for message_id in ("1", "2", "3"):
        verdict = await check(_request(_token(google), body=_body(message_id)))
        assert verdict == Accept(f"pubsub:{message_id}", needs_resolution=True)
    assert google.state.certs_requests == 1


async def test_unreachable_certificates_are_a_503_so_pubsub_retries(google: RunningGoogle) -> None:
    verdict = await _check(google, certs_url="http://127.0.0.1:9/certs")(_request(_token(google)))
    assert isinstance(verdict, Reject) and (verdict.status, verdict.code) == (503, "certs_unavailable")


async def test_a_rotated_key_is_found_by_fetching_the_certificates_again(google: RunningGoogle) -> None:
    clock = [0.0]
    check = PushCheck(
        GoogleCertificates(f"{google.url}/oauth2/v1/certs", timeout=5, monotonic=lambda: clock[0]),
        audience=AUDIENCE,
        service_account=PUSHER,
    )
    assert isinstance(await check(_request(_token(google))), Accept)
    rotated = SigningKey.generate("accounts.google.com")
    google.state.config = replace(google.state.config, push_signing_key=rotated)
    clock[0] = 31.0  # unknown key ids refetch at most every 30 s
    assert isinstance(await check(_request(_token(google, key=rotated))), Accept)
    assert google.state.certs_requests == 2
