"""Parsing outbound messages as the emulator sends them, and refusing what is not one."""

from __future__ import annotations

import pytest

from integrations.crm.salesforce.outbound_message import (
    MAX_NOTIFICATIONS,
    OutboundMessageError,
    ack_envelope,
    fault_envelope,
    parse_outbound_message,
)
from integrations.sandbox.salesforce import OutboundMessageSender
from integrations.sandbox.salesforce.outbound import acked
from tests.crm.salesforce.conftest import RunningSalesforce


def _sender(salesforce: RunningSalesforce, **options: object) -> OutboundMessageSender:
    return OutboundMessageSender(
        salesforce.state,
        "http://127.0.0.1:9/unused",
        fields=("Id", "Subject", "StartDateTime", "EndDateTime", "Location", "WhatId"),
        **options,  # type: ignore[arg-type]
    )


def test_a_notification_has_its_id_type_and_fields_nil_as_none(salesforce: RunningSalesforce) -> None:
    record_id = salesforce.event(Subject="Q4 <renewal> & pricing")
    with _sender(salesforce) as sender:
        queued = sender.record_changed(record_id)
        message = parse_outbound_message(sender.envelope([queued]))

    assert message.organization_id == salesforce.state.config.organization_id
    assert message.action_id == sender.action_id
    assert message.enterprise_url and message.enterprise_url.endswith(message.organization_id)
    [notification] = message.notifications
    assert notification.id == queued.id
    assert notification.sobject_type == "Event"
    assert notification.record_id == record_id
    assert notification.fields["Subject"] == "Q4 <renewal> & pricing"
    assert notification.fields["StartDateTime"] == "2026-12-01T10:00:00.000+0000"
    assert notification.fields["Location"] is None


def test_the_session_id_is_not_kept(salesforce: RunningSalesforce) -> None:
    with _sender(salesforce, send_session_id=True) as sender:
        body = sender.envelope([sender.record_changed(salesforce.event())])
    [session] = salesforce.state.sessions
    assert session.encode() in body

    message = parse_outbound_message(body)

    assert session not in repr(message)
    assert not hasattr(message, "session_id")


def test_a_hundred_notifications_are_one_call_and_a_hundred_and_one_are_refused(
    salesforce: RunningSalesforce,
) -> None:
    with _sender(salesforce) as sender:
        queued = [sender.record_changed(salesforce.event()) for _ in range(MAX_NOTIFICATIONS + 1)]
        assert len(parse_outbound_message(sender.envelope(queued[:100])).notifications) == 100
        with pytest.raises(OutboundMessageError) as refused:
            parse_outbound_message(sender.envelope(queued))
    assert refused.value.code == "too_many_notifications"


ENTITY_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&lol2;</soapenv:Body>
</soapenv:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>"""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (ENTITY_BOMB, "forbidden_xml"),
        (EXTERNAL_ENTITY, "forbidden_xml"),
        (b"<not-closed>", "malformed_xml"),
        (b"", "malformed_xml"),
        (b'{"json": true}', "malformed_xml"),
        (b"<Envelope/>", "invalid_outbound_message"),
        (
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
            "invalid_outbound_message",
        ),
    ],
)
def test_what_is_not_an_outbound_message_is_refused_with_a_stable_code(body: bytes, code: str) -> None:
    with pytest.raises(OutboundMessageError) as refused:
        parse_outbound_message(body)
    assert refused.value.code == code


def test_a_message_without_organization_id_or_notification_is_refused(salesforce: RunningSalesforce) -> None:
    with _sender(salesforce) as sender:
        body = sender.envelope([sender.record_changed(salesforce.event())])
        empty = sender.envelope([])
    without_org = body.replace(
        f"<OrganizationId>{salesforce.state.config.organization_id}</OrganizationId>".encode(), b""
    )
    for broken in (without_org, empty):
        with pytest.raises(OutboundMessageError) as refused:
            parse_outbound_message(broken)
        assert refused.value.code == "invalid_outbound_message"


def test_the_ack_is_what_salesforce_reads_as_delivered_and_a_fault_is_not() -> None:
    assert acked(200, ack_envelope())
    assert not acked(200, ack_envelope(ack=False))
    assert not acked(500, ack_envelope())
    fault = fault_envelope("organization_mismatch", "<not> ours & refused")
    assert not acked(200, fault)
    assert b"&lt;not&gt; ours &amp; refused" in fault
    assert b"soapenv:Client" in fault
