"""`POST /webhooks/salesforce`: Outbound Messages, checked before anything is stored, read later.

Outbound Messages carry no signature: the check parses the SOAP body and accepts only the
configured org's `OrganizationId`. Anything else gets a SOAP fault (which Salesforce shows in its
outbound message queue) and is stored nowhere. What is accepted is stored as its parsed content,
without the `SessionId` (a live API session when the admin ticks "Send Session ID"), and the `Ack`
is answered only once it is committed, so Salesforce keeps retrying anything that was not.

The delivery key is the message's notification `Id`s: Salesforce's retries of a message carry the
same ids, so they are stored once. Each notification holds the record's latest values, and the
records are applied idempotently on the record id (ordered by `LastModifiedDate`), so a
notification seen again in another batch, or out of order, creates and undoes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping

from integrations.crm.base import CrmRecord, UnreadableRecord
from integrations.crm.mapping import CrmMapping, map_record
from integrations.crm.salesforce.outbound_message import (
    OutboundMessage,
    OutboundMessageError,
    ack_envelope,
    fault_envelope,
    parse_outbound_message,
)
from integrations.plugin import (
    Accept,
    Reject,
    WebhookCheck,
    WebhookEndpoint,
    WebhookRequest,
    WebhookVerdict,
)

OUTBOUND_PATH = "/webhooks/salesforce"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
# The property a notification's sObject type is read under (`Event`, `Opportunity`).
SOBJECT_TYPE = "sobject_type"


def same_organization(given: str, expected: str) -> bool:
    """The 15-character id is the org; the 18-character form only adds a checksum of its case."""
    return len(given) in (15, 18) and given[:15] == expected[:15]


def stored_form(message: OutboundMessage) -> bytes:
    """What is kept of a message: everything the records need, nothing of the sender's session."""
    return json.dumps(
        {
            "organization_id": message.organization_id,
            "action_id": message.action_id,
            "notifications": [
                {"id": n.id, "sobject": n.sobject_type, "fields": dict(n.fields)}
                for n in message.notifications
            ],
        },
        separators=(",", ":"),
    ).encode()


def _refused(status: int, code: str, message: str) -> Reject:
    return Reject(status, code, message, body=fault_envelope(code, message), content_type=SOAP_CONTENT_TYPE)


def outbound_check(organization_id: str) -> WebhookCheck:
    async def check(request: WebhookRequest) -> WebhookVerdict:
        try:
            message = parse_outbound_message(request.body)
        except OutboundMessageError as exc:
            return _refused(400, exc.code, exc.message)
        if not same_organization(message.organization_id, organization_id):
            return _refused(403, "wrong_organization", "this endpoint takes Outbound Messages of another org")
        ids = sorted(n.id for n in message.notifications)
        return Accept(
            hashlib.sha256("\n".join(ids).encode()).hexdigest(),
            reply=ack_envelope(),
            reply_content_type=SOAP_CONTENT_TYPE,
            stored_body=stored_form(message),
        )

    return check


def outbound_endpoint(organization_id: str) -> WebhookEndpoint:
    return WebhookEndpoint(OUTBOUND_PATH, outbound_check(organization_id))


def record_parser(mapping: CrmMapping) -> Callable[[bytes, Mapping[str, str]], list[CrmRecord]]:
    def parse(body: bytes, headers: Mapping[str, str]) -> list[CrmRecord]:
        try:
            document = json.loads(body)
            notifications = document["notifications"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise UnreadableRecord("not a stored Salesforce outbound message") from exc
        if not isinstance(notifications, list):
            raise UnreadableRecord("not a stored Salesforce outbound message")
        records: list[CrmRecord] = []
        for notification in notifications:
            fields = notification.get("fields") if isinstance(notification, dict) else None
            if not isinstance(fields, dict):
                raise UnreadableRecord("a notification without fields")
            properties: dict[str, object] = {SOBJECT_TYPE: notification.get("sobject"), **fields}
            records.append(map_record(properties, mapping))
        return records

    return parse
