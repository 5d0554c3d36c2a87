"""Write-back onto Salesforce: PATCH the configured fields of the record the meeting came from.

The record is the notified one (an Event), or the one whose id the record's context holds
(`write_back_id_from`, e.g. the Event's `WhatId` Opportunity). A PATCH names the record, so a
retry writes the same values again and never creates anything: the write is idempotent without
any lookup. Salesforce's failures become the CRM error tree: its org limit and 429 are rate limited
(waiting `Retry-After`, else 15 minutes), 5xx and transport failures unavailable, refused tokens
auth failures, and a refused field or a missing record rejected (parked for the admin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from integrations.crm.base import (
    CrmAuthFailed,
    CrmError,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
    MeetingOutcome,
    Outcome,
)
from integrations.crm.salesforce.client import SalesforceClient
from integrations.crm.salesforce.config import SalesforceConfig
from integrations.crm.salesforce.errors import (
    SalesforceAuthError,
    SalesforceError,
    SalesforceLimited,
    SalesforceUnavailable,
)

CRM = "salesforce"
_TEXT_LIMIT = 255


def _datetime(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if moment else None


def attendance_text(outcome: MeetingOutcome) -> str:
    """Who came and for how long, short enough for a text field."""
    if outcome.outcome is Outcome.CANCELLED:
        return "Cancelled"
    parts = []
    for person in outcome.participants:
        who = person.email or person.name or "unidentified"
        parts.append(
            f"{who} {round(person.attended_seconds / 60)} min" if person.attended else f"{who} absent"
        )
    text = "; ".join(parts) or "Nobody attended"
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def crm_error(exc: SalesforceError) -> CrmError:
    if isinstance(exc, SalesforceLimited):
        return CrmRateLimited(CRM, exc.message, retry_after_seconds=exc.retry_after)
    if isinstance(exc, SalesforceUnavailable):
        return CrmUnavailable(CRM, exc.message)
    if isinstance(exc, SalesforceAuthError):
        return CrmAuthFailed(CRM, exc.message)
    return CrmRejected(CRM, exc.message)


class SalesforceWriter:
    def __init__(self, section: SalesforceConfig, client: SalesforceClient) -> None:
        self._section = section
        self._client = client

    def close(self) -> None:
        self._client.close()

    def fields(self, outcome: MeetingOutcome) -> dict[str, Any]:
        names, values = self._section.write_back_fields, self._section.outcome_values
        wanted: dict[str | None, Any] = {
            names.outcome: {
                Outcome.COMPLETED: values.completed,
                Outcome.CUSTOMER_NO_SHOW: values.customer_no_show,
                Outcome.HOST_NO_SHOW: values.host_no_show,
                Outcome.CANCELLED: values.cancelled,
            }[outcome.outcome],
            names.attended_minutes: outcome.attended_minutes,
            names.host_no_show: outcome.host_no_show,
            names.customer_no_show: outcome.customer_no_show,
            names.actual_start: _datetime(outcome.actual_start),
            names.actual_end: _datetime(outcome.actual_end),
            names.attendance: attendance_text(outcome),
            names.join_url: outcome.join_url,
        }
        return {name: value for name, value in wanted.items() if name is not None}

    def record_id(self, outcome: MeetingOutcome) -> str:
        key = self._section.write_back_id_from
        if key is None:
            return outcome.object_id
        value = outcome.context.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CrmRejected(CRM, f"the record has no {key!r} to write the outcome to")
        return value.strip()

    def write_outcome(self, outcome: MeetingOutcome, remote_id: str | None) -> str:
        record_id = remote_id or self.record_id(outcome)
        try:
            self._client.update_record(self._section.write_back_object, record_id, self.fields(outcome))
        except SalesforceError as exc:
            raise crm_error(exc) from None
        return record_id
