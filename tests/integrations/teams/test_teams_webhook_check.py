"""The Teams webhook check: the validation handshake, clientState, and what is stored."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from integrations.plugin import Accept, Answer, Reject, WebhookRequest
from integrations.teams.webhook_check import PATH, TeamsWebhookCheck, teams_endpoint

STATE = "s3cr3t-client-state"


def _batch(*states: object) -> bytes:
    items = [
        {
            "subscriptionId": "sub-1",
            "changeType": "created",
            "resource": f"communications/callRecords/rec-{n}",
            "resourceData": {"id": f"rec-{n}"},
            "clientState": state,
            "tenantId": "t",
        }
        for n, state in enumerate(states)
    ]
    return json.dumps({"value": items}).encode()


async def test_the_validation_handshake_is_answered_with_the_decoded_token() -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1b2c+3d/4=="
    query = urlencode({"validationToken": token}).encode()
    verdict = await TeamsWebhookCheck([STATE])(WebhookRequest(b"", {}, query))
    assert verdict == Answer(200, token.encode(), "text/plain")


async def test_an_empty_validation_token_is_refused() -> None:
    verdict = await TeamsWebhookCheck([STATE])(WebhookRequest(b"", {}, b"validationToken="))
    assert isinstance(verdict, Reject) and verdict.status == 400


async def test_notifications_with_our_client_state_are_accepted_for_resolution() -> None:
    body = _batch(STATE, STATE)
    verdict = await TeamsWebhookCheck([STATE])(WebhookRequest(body, {}))
    assert verdict == Accept(hashlib.sha256(body).hexdigest(), needs_resolution=True, status=202)


async def test_a_redelivery_has_the_same_key_and_another_batch_another() -> None:
    check = TeamsWebhookCheck([STATE])
    first, again, other = [
        await check(WebhookRequest(b, {})) for b in (_batch(STATE), _batch(STATE), _batch(STATE, STATE))
    ]
    assert isinstance(first, Accept) and isinstance(again, Accept) and isinstance(other, Accept)
    assert first.delivery_key == again.delivery_key != other.delivery_key


async def test_a_wrong_or_missing_client_state_is_refused_even_in_one_item_of_a_batch() -> None:
    check = TeamsWebhookCheck([STATE])
    for body in (_batch("guess"), _batch(STATE, "guess"), _batch(None), _batch(STATE[:-1]), _batch(12)):
        verdict = await check(WebhookRequest(body, {}))
        assert isinstance(verdict, Reject) and (verdict.status, verdict.code) == (
            401,
            "client_state_mismatch",
        )
        assert STATE not in verdict.message


async def test_a_rotated_client_state_keeps_the_old_one_working() -> None:
    check = TeamsWebhookCheck(["new-state", STATE])
    assert isinstance(await check(WebhookRequest(_batch(STATE), {})), Accept)
    assert isinstance(await check(WebhookRequest(_batch("new-state"), {})), Accept)


async def test_a_body_that_is_not_a_notification_batch_is_a_400() -> None:
    check = TeamsWebhookCheck([STATE])
    for body in (b"", b"not json", b"[]", b'{"value": []}', b'{"value": ["x"]}', b'{"other": 1}'):
        verdict = await check(WebhookRequest(body, {}))
        assert isinstance(verdict, Reject) and verdict.status == 400, body


def test_the_endpoint_reads_the_query_at_the_teams_path() -> None:
    endpoint = teams_endpoint([STATE])
    assert endpoint.path == PATH == "/webhooks/teams" and endpoint.reads_query
