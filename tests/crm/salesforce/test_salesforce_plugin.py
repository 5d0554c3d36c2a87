"""The Salesforce plugin's parts on their own: its config section, the Outbound Message check, the
record parser, the writer's fields and errors (against the emulator), and the secrets per auth mode."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from integrations.crm.base import (
    AttendeeOutcome,
    CrmAuthFailed,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
    MeetingOutcome,
    Outcome,
    UnreadableRecord,
)
from integrations.crm.plugin import CrmContext
from integrations.crm.salesforce.config import AuthMode, SalesforceConfig
from integrations.crm.salesforce.inbound import outbound_check, record_parser, same_organization
from integrations.crm.salesforce.outbound_message import read_ack
from integrations.crm.salesforce.plugin import PLUGIN, build_salesforce
from integrations.crm.salesforce.writer import SalesforceWriter
from integrations.plugin import Accept, Reject, WebhookRequest
from integrations.sandbox.salesforce import (
    SERVER_UNAVAILABLE,
    OutboundMessageSender,
    SigningKey,
    too_many_requests,
)
from service.config.loader import parse_config
from service.config.secrets import Settings, missing_secrets
from tests.crm.salesforce.conftest import RunningSalesforce
from tests.support import sandbox_config

ORG = "00D5g000004SbxQEAS"


def section(**overrides: Any) -> SalesforceConfig:
    values: dict[str, Any] = {
        "enabled": True,
        "organization_id": ORG,
        "client_id": "3MVG9sandboxConsumerKey",
        "instance_url": "https://acme.my.salesforce.com",
        **overrides,
    }
    return SalesforceConfig.model_validate(values)


# --- config --------------------------------------------------------------------------------------


def test_an_enabled_section_needs_the_org_id_and_what_its_auth_mode_needs() -> None:
    with pytest.raises(ValidationError, match="organization_id is required"):
        section(organization_id=None)
    with pytest.raises(ValidationError, match="not a Salesforce organization id"):
        section(organization_id="00Dshort")
    with pytest.raises(ValidationError, match="instance_url required"):
        section(instance_url=None)
    with pytest.raises(ValidationError, match="username, private_key_file required"):
        section(auth="jwt_bearer")
    with pytest.raises(ValidationError, match="not a Salesforce field API name"):
        section(write_back_fields={"outcome": "Bad Field"})
    assert SalesforceConfig().enabled is False  # a disabled section needs nothing
    assert section().token_url == "https://acme.my.salesforce.com/services/oauth2/token"
    assert section(organization_id=ORG[:15]).organization_id == ORG[:15]


def test_the_client_secret_is_needed_for_client_credentials_only(
    tmp_path: Path, signing_key: SigningKey
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(signing_key.private_pem)
    data: dict[str, Any] = sandbox_config()
    data["crm"] = {
        "salesforce": {
            "enabled": True,
            "organization_id": ORG,
            "client_id": "3MVG9x",
            "instance_url": "https://acme.my.salesforce.com",
        }
    }
    issues = missing_secrets(parse_config(data), Settings())
    assert [i.location for i in issues] == ["env.SALESMEET_SALESFORCE_CLIENT_SECRET"]
    data["crm"]["salesforce"].update(
        auth="jwt_bearer", username="integration@acme.example", private_key_file=str(key_file)
    )
    assert missing_secrets(parse_config(data), Settings()) == []


def test_a_client_secret_written_in_the_yaml_is_refused() -> None:
    data: dict[str, Any] = sandbox_config()
    data["crm"] = {"salesforce": {"enabled": True, "organization_id": ORG, "client_secret": "s3cr3t"}}
    with pytest.raises(Exception, match="SALESMEET_SALESFORCE_CLIENT_SECRET") as refused:
        parse_config(data)
    assert "s3cr3t" not in str(refused.value)


# --- inbound -------------------------------------------------------------------------------------


async def _verdict(body: bytes, organization_id: str = ORG) -> Accept | Reject:
    verdict = await outbound_check(organization_id)(WebhookRequest(body, {}))
    assert isinstance(verdict, Accept | Reject)
    return verdict


def _message(salesforce: RunningSalesforce, count: int = 1, **sender: Any) -> bytes:
    with OutboundMessageSender(salesforce.state, "http://127.0.0.1:9/unused", **sender) as outbound:
        queued = [outbound.record_changed(salesforce.event()) for _ in range(count)]
        return outbound.envelope(queued)


async def test_the_configured_org_is_accepted_acked_and_stored_without_the_session(
    salesforce: RunningSalesforce,
) -> None:
    body = _message(salesforce, 3, send_session_id=True)
    verdict = await _verdict(body)
    assert isinstance(verdict, Accept)
    assert verdict.reply is not None and read_ack(verdict.reply)
    assert verdict.stored_body is not None and b"SessionId" not in verdict.stored_body
    assert len(json.loads(verdict.stored_body)["notifications"]) == 3
    again = await _verdict(body)  # Salesforce's retry of the same notifications
    assert isinstance(again, Accept) and again.delivery_key == verdict.delivery_key
    short_org = await _verdict(body, ORG[:15])  # a config holding the 15-character id
    assert isinstance(short_org, Accept)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not xml", 400, "malformed_xml"),
        (b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', 400, "forbidden_xml"),
        (b"<x/>", 400, "invalid_outbound_message"),
    ],
)
async def test_what_is_not_an_outbound_message_gets_a_soap_fault(body: bytes, status: int, code: str) -> None:
    verdict = await _verdict(body)
    assert isinstance(verdict, Reject) and (verdict.status, verdict.code) == (status, code)
    assert verdict.body is not None and b"<faultcode>soapenv:Client</faultcode>" in verdict.body
    assert verdict.content_type.startswith("text/xml")


async def test_another_org_and_over_a_hundred_notifications_are_refused(
    salesforce: RunningSalesforce,
) -> None:
    other = await _verdict(_message(salesforce, organization_id="00D000000000001AAA"))
    assert isinstance(other, Reject) and (other.status, other.code) == (403, "wrong_organization")
    too_many = await _verdict(_message(salesforce, 101))
    assert isinstance(too_many, Reject) and too_many.code == "too_many_notifications"
    assert not same_organization(ORG[:14], ORG) and same_organization(ORG, ORG[:15])


async def test_the_parser_maps_event_fields_through_the_yaml_mapping(salesforce: RunningSalesforce) -> None:
    record_id = salesforce.event(
        DurationInMinutes=45,
        Salesmeet_Organizer_Email__c="Host@Acme.example",
        Salesmeet_Attendee_Emails__c="bob@customer.example, carla@customer.example",
        Salesmeet_Timezone__c="Europe/Berlin",
        Salesmeet_Cancelled__c=False,
        WhatId="0065g00000AbCdEAAA",
    )
    config = section()
    fields = (
        "Id",
        "Subject",
        "StartDateTime",
        "EndDateTime",
        "DurationInMinutes",
        "Salesmeet_Organizer_Email__c",
        "Salesmeet_Attendee_Emails__c",
        "Salesmeet_Timezone__c",
        "Salesmeet_Cancelled__c",
        "LastModifiedDate",
        "WhatId",
    )
    with OutboundMessageSender(salesforce.state, "http://127.0.0.1:9/unused", fields=fields) as outbound:
        body = outbound.envelope([outbound.record_changed(record_id)])
    verdict = await _verdict(body)
    assert isinstance(verdict, Accept) and verdict.stored_body is not None
    (record,) = record_parser(config.mapping)(verdict.stored_body, {})
    assert record.object_id == record_id and record.title == "Discovery call"
    assert record.start == datetime(2026, 12, 1, 10, 0, tzinfo=UTC) and record.duration_minutes == 45
    assert record.timezone == "Europe/Berlin" and record.organizer_email == "Host@Acme.example"
    assert record.attendee_emails == ("bob@customer.example", "carla@customer.example")
    assert record.cancelled is False and record.version == int(
        datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp() * 1000
    )
    assert record.context == {"what_id": "0065g00000AbCdEAAA"}

    salesforce.state.edit_record("Event", record_id, {"Salesmeet_Cancelled__c": True})
    with OutboundMessageSender(salesforce.state, "http://127.0.0.1:9/unused", fields=fields) as outbound:
        cancelled_body = outbound.envelope([outbound.record_changed(record_id)])
    cancelled = await _verdict(cancelled_body)
    assert isinstance(cancelled, Accept) and cancelled.stored_body is not None
    assert record_parser(config.mapping)(cancelled.stored_body, {})[0].cancelled is True
    with pytest.raises(UnreadableRecord):
        record_parser(config.mapping)(b"<xml/>", {})


# --- write-back ----------------------------------------------------------------------------------


def outcome(object_id: str, kind: Outcome = Outcome.COMPLETED, **context: object) -> MeetingOutcome:
    return MeetingOutcome(
        meeting_id="m-1",
        object_id=object_id,
        title="Discovery call",
        outcome=kind,
        scheduled_start=datetime(2026, 12, 1, 10, tzinfo=UTC),
        scheduled_end=datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
        actual_start=datetime(2026, 12, 1, 10, 2, tzinfo=UTC),
        actual_end=datetime(2026, 12, 1, 10, 29, tzinfo=UTC),
        join_url="https://zoom.example/j/1",
        meeting_url="http://127.0.0.1:9/v1/meetings/m-1",
        participants=(AttendeeOutcome("host@acme.example", "Hanna", True, 1620, True),),
        customer_no_show=kind is Outcome.CUSTOMER_NO_SHOW,
        host_no_show=False,
        context=context,
    )


def writer_for(salesforce: RunningSalesforce, **overrides: Any) -> SalesforceWriter:
    config = salesforce.state.config
    built = build_salesforce(
        CrmContext(
            section=section(
                client_id=config.client_id, instance_url=salesforce.url, organization_id=ORG, **overrides
            ),
            secrets={"salesforce_client_secret": config.client_secret},
            public_url="http://127.0.0.1:9",
            internal_domains=("acme.example",),
            clock=lambda: datetime.now(UTC),
        )
    )
    assert isinstance(built.writer, SalesforceWriter)
    salesforce.clients.append(built.writer._client)
    return built.writer


def test_the_configured_fields_are_patched_onto_the_event_and_a_retry_changes_nothing(
    salesforce: RunningSalesforce,
) -> None:
    event_id = salesforce.event()
    writer = writer_for(
        salesforce,
        write_back_fields={"attendance": None, "join_url": None},
        outcome_values={"completed": "Held"},
    )
    assert writer.write_outcome(outcome(event_id), None) == event_id
    assert writer.write_outcome(outcome(event_id), event_id) == event_id
    first, second = (w.fields for w in salesforce.state.writes)
    assert (
        first
        == second
        == {
            "Salesmeet_Outcome__c": "Held",
            "Salesmeet_Minutes__c": 27,
            "Salesmeet_Host_No_Show__c": False,
            "Salesmeet_Customer_No_Show__c": False,
            "Salesmeet_Actual_Start__c": "2026-12-01T10:02:00.000Z",
            "Salesmeet_Actual_End__c": "2026-12-01T10:29:00.000Z",
        }
    )


def test_the_outcome_can_go_onto_the_related_opportunity(salesforce: RunningSalesforce) -> None:
    opportunity = salesforce.state.create_record("Opportunity", {"Name": "Acme renewal"})
    writer = writer_for(salesforce, write_back_object="Opportunity", write_back_id_from="what_id")
    event_id = salesforce.event()
    assert writer.write_outcome(outcome(event_id, what_id=opportunity), None) == opportunity
    assert salesforce.state.record("Opportunity", opportunity)["Salesmeet_Outcome__c"] == "Completed"  # type: ignore[index]
    with pytest.raises(CrmRejected, match="what_id"):
        writer.write_outcome(outcome(event_id), None)


def test_salesforce_failures_become_the_crm_error_tree(salesforce: RunningSalesforce) -> None:
    event_id = salesforce.event()
    writer = writer_for(salesforce)
    salesforce.state.faults.fail_next(1, too_many_requests("30"))
    with pytest.raises(CrmRateLimited) as limited:
        writer.write_outcome(outcome(event_id), None)
    assert limited.value.retry_after_seconds == 30
    salesforce.state.faults.fail_next(1, SERVER_UNAVAILABLE)
    with pytest.raises(CrmUnavailable):
        writer.write_outcome(outcome(event_id), None)
    with pytest.raises(CrmRejected):
        writer.write_outcome(outcome("00U000000000000AAA"), None)  # no such Event
    bad_field = writer_for(salesforce, write_back_fields={"outcome": "No_Such_Field__c"})
    with pytest.raises(CrmRejected, match="INVALID_FIELD"):
        bad_field.write_outcome(outcome(event_id), None)
    wrong_secret = build_salesforce(
        CrmContext(
            section=section(client_id="3MVG9sandboxConsumerKey", instance_url=salesforce.url),
            secrets={"salesforce_client_secret": "wrong"},
            public_url="http://127.0.0.1:9",
            internal_domains=("acme.example",),
            clock=lambda: datetime.now(UTC),
        )
    ).writer
    assert isinstance(wrong_secret, SalesforceWriter)
    salesforce.clients.append(wrong_secret._client)
    with pytest.raises(CrmAuthFailed) as refused:
        wrong_secret.write_outcome(outcome(event_id), None)
    assert "wrong" not in refused.value.message


def test_jwt_bearer_writes_with_a_token_from_the_key_file(
    salesforce: RunningSalesforce, signing_key: SigningKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "jwt.pem"
    key_file.write_bytes(signing_key.private_pem)
    # The token host is the emulator; the audience it expects is then its own URL too.
    salesforce.state.config = replace(salesforce.state.config, jwt_audiences=(salesforce.url,))
    config = salesforce.state.config
    built = build_salesforce(
        CrmContext(
            section=section(
                auth=AuthMode.JWT_BEARER,
                client_id=config.client_id,
                username=config.username,
                private_key_file=str(key_file),
                login_url=salesforce.url,
                instance_url=None,
            ),
            secrets={},
            public_url="http://127.0.0.1:9",
            internal_domains=("acme.example",),
            clock=salesforce.state.now,
        )
    )
    assert built.writer is not None and built.close is not None
    event_id = salesforce.event()
    try:
        assert built.writer.write_outcome(outcome(event_id, Outcome.CUSTOMER_NO_SHOW), None) == event_id
    finally:
        built.close()
    record = salesforce.state.record("Event", event_id)
    assert record is not None and record["Salesmeet_Customer_No_Show__c"] is True
    assert (
        PLUGIN.required_secrets(
            section(auth="jwt_bearer", username="u@acme.example", private_key_file=str(key_file))
        )
        == ()
    )
