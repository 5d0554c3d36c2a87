"""Salesforce Outbound Messages: the SOAP 1.1 `notifications` call in, the `Ack` (or a fault) out.

Salesforce posts one `notifications` element holding `OrganizationId`, `ActionId`, `SessionId`
(nillable), `EnterpriseUrl`, `PartnerUrl` and 1 to 100 `Notification{Id, sObject}`. The sObject is
typed with `xsi:type="sf:Event"` (namespace `urn:sobject.enterprise.soap.sforce.com`) and holds
the fields the admin chose, `xsi:nil="true"` for an empty one. Salesforce keeps retrying until it
reads `<Ack>true</Ack>`, so the caller answers `ack_envelope()` only once the delivery is durable.

The body is parsed with defusedxml: no DTD, no entity, no external reference is resolved. The
`SessionId` is a live API session of the sending user: it is never kept, so it is not a field of
`OutboundMessage` and cannot reach a log or the database.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100

_ENVELOPE = f"{{{SOAP_ENVELOPE_NS}}}Envelope"
_BODY = f"{{{SOAP_ENVELOPE_NS}}}Body"
_XSI_TYPE = f"{{{XSI_NS}}}type"
_XSI_NIL = f"{{{XSI_NS}}}nil"


class OutboundMessageError(ValueError):
    """The body is not a Salesforce outbound message we can accept; `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OutboundNotification:
    """One `Notification`: its id (stable across Salesforce's retries) and the record's fields."""

    id: str
    sobject_type: str
    # Field name (as the API names it, e.g. `StartDateTime`) -> text, None when sent as nil.
    fields: Mapping[str, str | None]

    @property
    def record_id(self) -> str | None:
        return self.fields.get("Id")


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str
    enterprise_url: str | None
    partner_url: str | None
    notifications: tuple[OutboundNotification, ...]


def _ns(tag: str) -> str:
    return f"{{{OUTBOUND_NS}}}{tag}"


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child_text(parent: ET.Element, tag: str) -> str | None:
    child = parent.find(_ns(tag))
    if child is None or child.get(_XSI_NIL) == "true":
        return None
    return (child.text or "").strip()


def _required_text(parent: ET.Element, tag: str) -> str:
    text = _child_text(parent, tag)
    if not text:
        raise OutboundMessageError("invalid_outbound_message", f"{tag} is missing")
    return text


def _sobject_type(sobject: ET.Element) -> str:
    # `sf:Event`: the prefix is bound to the sObject namespace; ElementTree does not keep prefixes,
    # and Salesforce always binds it, so the local part names the type.
    declared = sobject.get(_XSI_TYPE, "")
    type_name = declared.rpartition(":")[2].strip()
    if not type_name:
        raise OutboundMessageError("invalid_outbound_message", "sObject has no xsi:type")
    return type_name


def _notification(element: ET.Element) -> OutboundNotification:
    notification_id = _required_text(element, "Id")
    sobject = element.find(_ns("sObject"))
    if sobject is None:
        raise OutboundMessageError("invalid_outbound_message", "Notification has no sObject")
    fields: dict[str, str | None] = {}
    for field in sobject:
        if not field.tag.startswith(f"{{{SOBJECT_NS}}}") or len(field):
            continue
        name = _local_name(field.tag)
        fields[name] = None if field.get(_XSI_NIL) == "true" else (field.text or "")
    return OutboundNotification(notification_id, _sobject_type(sobject), fields)


def parse_outbound_message(body: bytes) -> OutboundMessage:
    """The message in a SOAP body; raises OutboundMessageError (never anything else) on bad input."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OutboundMessageError("forbidden_xml", "DTDs and entities are not accepted") from exc
    except (ET.ParseError, ValueError) as exc:
        raise OutboundMessageError("malformed_xml", "the body is not well-formed XML") from exc
    if root.tag != _ENVELOPE:
        raise OutboundMessageError("invalid_outbound_message", "not a SOAP 1.1 envelope")
    soap_body = root.find(_BODY)
    notifications = soap_body.find(_ns("notifications")) if soap_body is not None else None
    if notifications is None:
        raise OutboundMessageError("invalid_outbound_message", "no notifications element in the SOAP body")
    elements = notifications.findall(_ns("Notification"))
    if not elements:
        raise OutboundMessageError("invalid_outbound_message", "no Notification")
    if len(elements) > MAX_NOTIFICATIONS:
        raise OutboundMessageError(
            "too_many_notifications", f"{len(elements)} notifications; at most {MAX_NOTIFICATIONS}"
        )
    return OutboundMessage(
        organization_id=_required_text(notifications, "OrganizationId"),
        action_id=_required_text(notifications, "ActionId"),
        enterprise_url=_child_text(notifications, "EnterpriseUrl"),
        partner_url=_child_text(notifications, "PartnerUrl"),
        notifications=tuple(_notification(element) for element in elements),
    )


def ack_envelope(ack: bool = True) -> bytes:
    """The `notificationsResponse`; Salesforce stops retrying only on `<Ack>true</Ack>`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}"><soapenv:Body>'
        f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>{"true" if ack else "false"}</Ack>'
        "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
    ).encode()


def fault_envelope(code: str, message: str, *, server_side: bool = False) -> bytes:
    """A SOAP 1.1 Fault: `soapenv:Client` for a refused call, `soapenv:Server` for our own trouble.

    Salesforce shows `faultstring` in its outbound message queue, so it carries the stable `code`
    for the admin and never anything from the request.
    """
    fault_code = "soapenv:Server" if server_side else "soapenv:Client"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{fault_code}</faultcode><faultstring>{escape(f'{code}: {message}')}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def read_ack(body: bytes) -> bool:
    """Whether a reply body is a `notificationsResponse` with `<Ack>true</Ack>` (as Salesforce reads it)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ET.ParseError, ValueError):
        return False
    ack = root.find(f"{_BODY}/{_ns('notificationsResponse')}/{_ns('Ack')}")
    return root.tag == _ENVELOPE and ack is not None and (ack.text or "").strip() == "true"
