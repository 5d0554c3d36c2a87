"""Outbound Messages as Salesforce sends them: SOAP `notifications`, retried until `<Ack>true</Ack>`.

A record change queues one notification (its `Id` is kept across retries). Due notifications go
out in batches of at most 100 per POST, built at send time from the record's latest values, as
Salesforce does. An answer that is not 200 with `<Ack>true</Ack>` (or no answer within the
timeout) leaves the batch queued with exponential backoff capped at 2 h; a notification older
than 24 h is dropped. Time is the org's clock, so a test runs a day of retries in an instant
(`run_until_settled` with a ManualClock). Duplicates and reordering can be injected.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import DefusedXmlException

from integrations.sandbox.clock import ManualClock
from integrations.sandbox.salesforce.state import SalesforceEmulatorState

MAX_BATCH = 100
_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
_ACK_PATH = f"{{{_SOAP_NS}}}Body/{{{_OUTBOUND_NS}}}notificationsResponse/{{{_OUTBOUND_NS}}}Ack"
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class NotificationState(StrEnum):
    QUEUED = "queued"
    ACKED = "acked"
    DROPPED = "dropped"


@dataclass
class QueuedNotification:
    id: str
    sobject: str
    record_id: str
    queued_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    state: NotificationState = NotificationState.QUEUED
    # One entry per POST that carried it: the HTTP status, or None for no answer in time.
    statuses: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class RetryPolicy:
    first_retry: timedelta = timedelta(minutes=1)
    max_interval: timedelta = timedelta(hours=2)
    give_up_after: timedelta = timedelta(hours=24)

    def interval(self, attempts: int) -> timedelta:
        grown: timedelta = self.first_retry * (2 ** max(0, attempts - 1))
        return min(grown, self.max_interval)


def _soap_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return escape(str(value))


def acked(status: int, body: bytes) -> bool:
    """Salesforce counts a delivery only on 200 with a notificationsResponse saying `Ack` true."""
    if status != 200:
        return False
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError):
        return False
    ack = root.find(_ACK_PATH)
    return ack is not None and (ack.text or "").strip() == "true"


class OutboundMessageSender:
    """One outbound message definition (an `ActionId`): its object, chosen fields and endpoint."""

    def __init__(
        self,
        state: SalesforceEmulatorState,
        target_url: str,
        *,
        sobject: str = "Event",
        fields: tuple[str, ...] = ("Id", "Subject", "StartDateTime", "EndDateTime", "OwnerId"),
        action_id: str = "04k5g000000TestAAA",
        organization_id: str | None = None,
        send_session_id: bool = False,
        answer_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        duplicate: bool = False,
        reorder: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._state = state
        self.target_url = target_url
        self.sobject = sobject
        self.fields = fields if "Id" in fields else ("Id", *fields)
        self.action_id = action_id
        # Another org's id, to play an outbound message that is not ours.
        self.organization_id = organization_id or state.config.organization_id
        self._send_session_id = send_session_id
        self._retry = retry or RetryPolicy()
        self.duplicate = duplicate
        self.reorder = reorder
        # Reproducible ids and faults (not security); another action's notifications get other ids.
        self._random = random.Random(f"{state.config.seed}:{action_id}")  # noqa: S311
        self._lock = threading.Lock()
        self.queue: list[QueuedNotification] = []
        timeout = answer_timeout if answer_timeout is not None else state.config.outbound_answer_timeout
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OutboundMessageSender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _new_id(self) -> str:
        return "04l5g" + "".join(self._random.choice(_ID_ALPHABET) for _ in range(10)) + "AAA"

    def record_changed(self, record_id: str) -> QueuedNotification:
        """Queue a notification for a record, as the flow or workflow rule firing on its change does."""
        if self._state.record(self.sobject, record_id) is None:
            raise KeyError(f"{self.sobject} {record_id}")
        now = self._state.now()
        queued = QueuedNotification(self._new_id(), self.sobject, record_id, now, now)
        with self._lock:
            self.queue.append(queued)
        return queued

    def pending(self) -> list[QueuedNotification]:
        with self._lock:
            return [n for n in self.queue if n.state is NotificationState.QUEUED]

    def envelope(self, notifications: Iterable[QueuedNotification]) -> bytes:
        """The SOAP body Salesforce would post now for these notifications (latest record values)."""
        config = self._state.config
        session = (
            f"<SessionId>{escape(self._state.issue_session(config.username))}</SessionId>"
            if self._send_session_id
            else '<SessionId xsi:nil="true"/>'
        )
        base = config.instance_url or "https://sandbox.my.salesforce.com"
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<soapenv:Envelope xmlns:soapenv="{_SOAP_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>',
            f'<notifications xmlns="{_OUTBOUND_NS}">',
            f"<OrganizationId>{escape(self.organization_id)}</OrganizationId>",
            f"<ActionId>{escape(self.action_id)}</ActionId>",
            session,
            f"<EnterpriseUrl>{escape(base)}/services/Soap/c/62.0/{escape(self.organization_id)}</EnterpriseUrl>",
            f"<PartnerUrl>{escape(base)}/services/Soap/u/62.0/{escape(self.organization_id)}</PartnerUrl>",
        ]
        for notification in notifications:
            record = self._state.record(notification.sobject, notification.record_id) or {}
            parts.append(f"<Notification><Id>{escape(notification.id)}</Id>")
            parts.append(
                f"<sObject xsi:type={quoteattr('sf:' + notification.sobject)}"
                ' xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            )
            for name in self.fields:
                value = record.get(name)
                if value is None:
                    parts.append(f'<sf:{name} xsi:nil="true"/>')
                else:
                    parts.append(f"<sf:{name}>{_soap_value(value)}</sf:{name}>")
            parts.append("</sObject></Notification>")
        parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
        return "".join(parts).encode("utf-8")

    def _post(self, body: bytes) -> tuple[int | None, bool]:
        try:
            response = self._http.post(
                self.target_url,
                content=body,
                headers={"content-type": "text/xml; charset=utf-8", "soapaction": '""'},
            )
        except httpx.HTTPError:
            return None, False
        return response.status_code, acked(response.status_code, response.content)

    def run_due(self) -> int:
        """Send every notification due now (batches of 100); returns how many were acknowledged."""
        now = self._state.now()
        with self._lock:
            for notification in self.queue:
                too_old = now - notification.queued_at > self._retry.give_up_after
                if notification.state is NotificationState.QUEUED and too_old:
                    notification.state = NotificationState.DROPPED
            due = [n for n in self.queue if n.state is NotificationState.QUEUED and n.next_attempt_at <= now]
        if self.reorder:
            self._random.shuffle(due)
        delivered = 0
        for start in range(0, len(due), MAX_BATCH):
            batch = due[start : start + MAX_BATCH]
            body = self.envelope(batch)
            status, ok = self._post(body)
            if ok and self.duplicate:
                self._post(body)
            with self._lock:
                for notification in batch:
                    notification.attempts += 1
                    notification.statuses.append(status)
                    if ok:
                        notification.state = NotificationState.ACKED
                        delivered += 1
                    else:
                        notification.next_attempt_at = now + self._retry.interval(notification.attempts)
        return delivered

    def run_until_settled(self, clock: ManualClock, limit: timedelta = timedelta(hours=25)) -> None:
        """Send, then move the org's clock to the next retry, until nothing is queued (acked or dropped)."""
        deadline = clock() + limit
        while clock() <= deadline:
            self.run_due()
            waiting = self.pending()
            if not waiting:
                return
            clock.set(max(clock(), min(n.next_attempt_at for n in waiting)))
