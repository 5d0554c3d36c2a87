"""The write-back client against the emulator: both grants, token refresh, errors as Salesforce sends them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from integrations.crm.salesforce.auth import ClientCredentials, JwtBearer
from integrations.crm.salesforce.errors import (
    DEFAULT_LIMIT_WAIT_SECONDS,
    ApiUsage,
    SalesforceAuthError,
    SalesforceLimited,
    SalesforceNotFound,
    SalesforceRejected,
    SalesforceUnavailable,
)
from integrations.sandbox.salesforce import (
    REQUEST_LIMIT_EXCEEDED,
    SERVER_UNAVAILABLE,
    ManualClock,
    SigningKey,
    new_signing_key,
    too_many_requests,
)
from tests.crm.salesforce.conftest import RunningSalesforce

OUTCOME = {"Salesmeet_Outcome__c": "COMPLETED", "Salesmeet_Minutes__c": 27.5}


def _jwt(salesforce: RunningSalesforce, key: SigningKey, clock: ManualClock, **overrides: str) -> JwtBearer:
    config = salesforce.state.config
    claims = {
        "consumer_key": config.client_id,
        "username": config.username,
        "audience": config.jwt_audiences[0],
    }
    claims.update(overrides)
    return JwtBearer(**claims, private_key_pem=key.private_pem, now=lambda: clock().timestamp())


def test_client_credentials_patch_the_event_and_a_retry_writes_the_same_values(
    salesforce: RunningSalesforce,
) -> None:
    record_id = salesforce.event()
    client = salesforce.client()

    client.update_record("Event", record_id, OUTCOME)
    client.update_record("Event", record_id, OUTCOME)

    record = salesforce.state.record("Event", record_id)
    assert record is not None
    assert record["Salesmeet_Outcome__c"] == "COMPLETED"
    assert record["Salesmeet_Minutes__c"] == 27.5
    assert record["Subject"] == "Discovery call"
    assert len(salesforce.state.writes) == 2
    assert salesforce.state.token_requests == 1
    assert client.last_usage == ApiUsage(2, salesforce.state.config.daily_api_limit)
    read = client.read_record("Event", record_id, ("Salesmeet_Outcome__c",))
    assert read["Salesmeet_Outcome__c"] == "COMPLETED"


def test_jwt_bearer_with_the_uploaded_certificates_key_gets_a_token(
    salesforce: RunningSalesforce, signing_key: SigningKey, clock: ManualClock
) -> None:
    record_id = salesforce.event()
    client = salesforce.client(_jwt(salesforce, signing_key, clock))

    client.update_record("Event", record_id, OUTCOME)

    assert salesforce.state.record("Event", record_id)["Salesmeet_Outcome__c"] == "COMPLETED"  # type: ignore[index]


@pytest.mark.parametrize(
    "grant_of",
    [
        lambda sf, key, clock: ClientCredentials(sf.state.config.client_id, "wrong-secret"),
        lambda sf, key, clock: _jwt(sf, new_signing_key("someone-else"), clock),
        lambda sf, key, clock: _jwt(sf, key, clock, audience="https://evil.example"),
        lambda sf, key, clock: _jwt(sf, key, clock, username="other@acme.example"),
        lambda sf, key, clock: _jwt(sf, key, clock, consumer_key="another-app"),
        lambda sf, key, clock: JwtBearer("k", "u", "a", b"not a PEM key"),
    ],
    ids=["wrong-secret", "other-key", "audience", "subject", "issuer", "unreadable-key"],
)
def test_a_refused_grant_is_an_auth_error_that_shows_no_secret(
    salesforce: RunningSalesforce,
    signing_key: SigningKey,
    clock: ManualClock,
    grant_of: Callable[..., object],
) -> None:
    client = salesforce.client(grant_of(salesforce, signing_key, clock))
    with pytest.raises(SalesforceAuthError) as refused:
        client.update_record("Event", salesforce.event(), OUTCOME)
    assert "wrong-secret" not in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)
    assert salesforce.state.writes == []


def test_an_assertion_that_has_expired_on_the_orgs_clock_is_refused(
    salesforce: RunningSalesforce, signing_key: SigningKey, clock: ManualClock
) -> None:
    def ten_minutes_slow() -> float:
        return (clock() - timedelta(minutes=10)).timestamp()

    stale = JwtBearer(
        salesforce.state.config.client_id,
        salesforce.state.config.username,
        "https://login.salesforce.com",
        signing_key.private_pem,
        now=ten_minutes_slow,
    )
    with pytest.raises(SalesforceAuthError, match="expired"):
        salesforce.client(stale).check_token()


def test_an_ended_session_is_replaced_once_and_the_write_goes_through(
    salesforce: RunningSalesforce, clock: ManualClock
) -> None:
    record_id = salesforce.event()
    client = salesforce.client()
    client.update_record("Event", record_id, {"Location": "first"})
    salesforce.state.end_sessions()
    client.update_record("Event", record_id, {"Location": "after logout"})
    clock.advance(timedelta(hours=3))  # past the session timeout

    client.update_record("Event", record_id, OUTCOME)

    assert salesforce.state.token_requests == 3
    assert salesforce.state.record("Event", record_id)["Location"] == "after logout"  # type: ignore[index]


def test_a_401_with_a_fresh_token_is_an_auth_error(salesforce: RunningSalesforce) -> None:
    client = salesforce.client()
    client.check_token()
    salesforce.state.config = type(salesforce.state.config)(
        **{**salesforce.state.config.__dict__, "session_timeout_seconds": -1}
    )
    with pytest.raises(SalesforceAuthError) as refused:
        client.update_record("Event", salesforce.event(), OUTCOME)
    assert refused.value.error_code == "INVALID_SESSION_ID"


def test_not_found_and_refused_fields_are_final_with_salesforces_code(salesforce: RunningSalesforce) -> None:
    client = salesforce.client()
    record_id = salesforce.event()

    with pytest.raises(SalesforceNotFound) as missing:
        client.update_record("Event", "00U000000000000AAA", OUTCOME)
    with pytest.raises(SalesforceNotFound):
        client.update_record("Meeting_Outcome__c", record_id, OUTCOME)
    with pytest.raises(SalesforceRejected) as unknown_field:
        client.update_record("Event", record_id, {"No_Such_Field__c": 1})
    with pytest.raises(SalesforceRejected) as bad_value:
        client.update_record("Event", record_id, {"Salesmeet_Minutes__c": "many"})
    with pytest.raises(SalesforceRejected) as backwards:
        client.update_record("Event", record_id, {"EndDateTime": "2026-12-01T09:00:00Z"})

    assert missing.value.error_code == "NOT_FOUND"
    assert unknown_field.value.error_code == "INVALID_FIELD"
    assert bad_value.value.error_code == "JSON_PARSER_ERROR"
    assert backwards.value.error_code == "FIELD_INTEGRITY_EXCEPTION"
    assert not any(e.retryable for e in (missing.value, unknown_field.value, bad_value.value))
    assert salesforce.state.writes == []


def test_ids_and_names_that_are_not_salesforces_never_reach_the_url(salesforce: RunningSalesforce) -> None:
    client = salesforce.client()
    with pytest.raises(SalesforceNotFound):
        client.update_record("Event", "../../oauth2/token", OUTCOME)
    with pytest.raises(SalesforceRejected):
        client.update_record("Event/../Opportunity", salesforce.event(), OUTCOME)
    assert salesforce.state.api_requests == []


def test_limit_signals_are_retryable_with_a_wait(salesforce: RunningSalesforce) -> None:
    client = salesforce.client()
    record_id = salesforce.event()
    salesforce.state.faults.fail_next(1, REQUEST_LIMIT_EXCEEDED)
    salesforce.state.faults.fail_next(1, too_many_requests("42"))
    salesforce.state.faults.fail_next(1, SERVER_UNAVAILABLE)

    with pytest.raises(SalesforceLimited) as org_limit:
        client.update_record("Event", record_id, OUTCOME)
    with pytest.raises(SalesforceLimited) as throttled:
        client.update_record("Event", record_id, OUTCOME)
    with pytest.raises(SalesforceUnavailable) as down:
        client.update_record("Event", record_id, OUTCOME)
    client.update_record("Event", record_id, OUTCOME)

    assert org_limit.value.retry_after == DEFAULT_LIMIT_WAIT_SECONDS
    assert org_limit.value.status == 403
    assert throttled.value.retry_after == 42.0
    assert down.value.retryable
    assert len(salesforce.state.writes) == 1


def test_the_daily_limit_is_reported_by_the_usage_header_and_then_refused(
    start_salesforce: Callable[..., RunningSalesforce],
) -> None:
    salesforce = start_salesforce(daily_api_limit=2)
    client = salesforce.client()
    record_id = salesforce.event()
    client.update_record("Event", record_id, OUTCOME)
    client.update_record("Event", record_id, OUTCOME)
    assert client.last_usage == ApiUsage(2, 2)

    with pytest.raises(SalesforceLimited) as refused:
        client.update_record("Event", record_id, OUTCOME)
    assert refused.value.error_code == "REQUEST_LIMIT_EXCEEDED"


def test_an_unreachable_org_is_unavailable(salesforce: RunningSalesforce) -> None:
    client = salesforce.client()
    client.check_token()
    salesforce.server.stop()
    with pytest.raises(SalesforceUnavailable):
        client.update_record("Event", "00U000000000000AAA", OUTCOME)


def test_credentials_never_show_in_a_repr(signing_key: SigningKey) -> None:
    grant = ClientCredentials("cid", "s3cr3t-value")
    jwt_grant = JwtBearer("cid", "u@x", "https://login.salesforce.com", signing_key.private_pem)
    assert "s3cr3t-value" not in repr(grant)
    assert "PRIVATE" not in repr(jwt_grant)
