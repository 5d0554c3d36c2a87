"""What a CRM connector exchanges with salesmeet: records in, outcomes out, and its error tree.

Errors a CRM client raises (all `CrmError`, each with a stable `code`):

    CrmError
      CrmAuthFailed      the token or secret was refused (401/403): not retried until replayed
      CrmRejected        the CRM refused the write itself (400, 404 of a property): parked at once
      CrmRateLimited     429 or a CRM-specific limit signal; `retry_after` is the plugin's reading
                         of the CRM's hint (HubSpot's `policyName`, Salesforce's `Sforce-Limit-Info`)
      CrmUnavailable     5xx, timeouts, connection errors: retried with backoff

A record is what one inbound delivery says about one CRM object, already mapped through the
YAML mapping (`integrations.crm.mapping`) to the common meeting model's terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class CrmError(Exception):
    code = "crm_error"
    retryable = False

    def __init__(self, crm: str, message: str) -> None:
        super().__init__(message)
        self.crm = crm
        self.message = message


class CrmAuthFailed(CrmError):
    code = "crm_auth_failed"


class CrmRejected(CrmError):
    code = "crm_rejected"


class CrmUnavailable(CrmError):
    code = "crm_unavailable"
    retryable = True


class CrmRateLimited(CrmError):
    code = "crm_rate_limited"
    retryable = True

    def __init__(self, crm: str, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(crm, message)
        self.retry_after_seconds = retry_after_seconds


class UnreadableRecord(ValueError):
    """A delivery that can never become a meeting (a required property missing or malformed)."""


@dataclass(frozen=True)
class CrmRecord:
    """One CRM object as a meeting: the mapped values of one delivery.

    `version` orders deliveries of the same object (epoch ms of its last change, or of the
    delivery): an older one arriving after a newer one is not applied. `context` is what the
    write-back needs later (associated deal and contact ids, the owner's CRM id), kept per object.
    """

    object_id: str
    title: str
    start: datetime | None
    duration_minutes: int | None
    timezone: str
    organizer_email: str | None
    attendee_emails: tuple[str, ...]
    # E-mail -> display name, where the CRM gave one (matches guests the provider shows by name only).
    attendee_names: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None
    cancelled: bool = False
    version: int | None = None
    context: Mapping[str, object] = field(default_factory=dict)


class Outcome(StrEnum):
    COMPLETED = "completed"
    CUSTOMER_NO_SHOW = "customer_no_show"
    HOST_NO_SHOW = "host_no_show"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class AttendeeOutcome:
    email: str | None
    name: str | None
    internal: bool
    attended_seconds: int
    attended: bool


@dataclass(frozen=True)
class MeetingOutcome:
    """What salesmeet measured about a meeting, written back onto the CRM record it came from."""

    meeting_id: str
    object_id: str
    title: str
    outcome: Outcome
    scheduled_start: datetime
    scheduled_end: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    join_url: str | None
    # A link to the meeting in salesmeet: unique per meeting, so a write can be found again.
    meeting_url: str
    participants: tuple[AttendeeOutcome, ...]
    customer_no_show: bool
    host_no_show: bool
    context: Mapping[str, object] = field(default_factory=dict)

    @property
    def attended_minutes(self) -> int:
        """Minutes the meeting actually ran (actual end - actual start), 0 when it never ran."""
        if self.actual_start is None or self.actual_end is None:
            return 0
        return max(0, round((self.actual_end - self.actual_start).total_seconds() / 60))


class CrmWriter(Protocol):
    """Writes a meeting's outcome onto the CRM; returns the CRM's id of the object it wrote.

    Idempotent: given the id of an earlier write it updates that object; without one it first
    looks for an object an earlier, unrecorded write made (by `meeting_url`) before creating one.
    Runs on a worker thread, outside every database transaction.
    """

    def write_outcome(self, outcome: MeetingOutcome, remote_id: str | None) -> str: ...
