"""The provider port: what salesmeet asks of Zoom, Teams and Meet, and how they fail.

Adapters are synchronous (the three SDKs are); async callers run them in a per-provider thread
pool. Every failure is a `ProviderError`:

    ProviderError                 base; `code` is stable, `retryable` says if trying again may help
    ├── ProviderAuthError         credentials refused or no token obtainable (not retryable)
    ├── ProviderNotFound          the provider has no such meeting/user (not retryable)
    ├── ProviderRejected          the provider refused our input (not retryable)
    ├── ProviderRateLimited       429 / quota; `retry_after` seconds when the provider said (retryable)
    └── ProviderUnavailable       5xx, timeout, connection failure, unreadable answer (retryable)
        └── ProviderOutcomeUnknown    a create got no answer in time: it may have happened
            └── ProviderCreateUnfinished  the meeting was made, a later step of the create failed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from service.domain.meeting import MeetingKind, Person, ProviderName
from service.domain.reports import AttendanceReport, ReportedSession

__all__ = [
    "AttendanceReport",
    "AttendeeRegistration",
    "MeetingProvider",
    "MeetingRequest",
    "ProviderAuthError",
    "ProviderCreateUnfinished",
    "ProviderError",
    "ProviderHealth",
    "ProviderMeeting",
    "ProviderNotFound",
    "ProviderOutcomeUnknown",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderSubscription",
    "ProviderUnavailable",
    "ReportedSession",
    "SubscriptionManager",
]


class ProviderError(Exception):
    code = "provider_error"
    retryable = False

    def __init__(self, provider: ProviderName, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status


class ProviderAuthError(ProviderError):
    code = "provider_auth_failed"


class ProviderNotFound(ProviderError):
    code = "provider_not_found"


class ProviderRejected(ProviderError):
    code = "provider_rejected"


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    retryable = True

    def __init__(
        self,
        provider: ProviderName,
        message: str,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
        daily_limit: bool = False,
    ) -> None:
        super().__init__(provider, message, status=status)
        self.retry_after = retry_after
        self.daily_limit = daily_limit


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    retryable = True


class ProviderOutcomeUnknown(ProviderUnavailable):
    """A create was sent and no answer came in time, and looking for its meeting did not settle it.

    The meeting may exist on the provider: the caller must look for it before creating again
    (`MeetingRequest.maybe_created_since`), never simply retry.
    """

    code = "provider_timeout"


class ProviderCreateUnfinished(ProviderOutcomeUnknown):
    """The meeting was made but a later step of its create failed (Zoom: adding its registrants).

    Like an unanswered create, the claim is kept so that a retry finds this meeting and finishes it;
    cancelling it instead could itself fail and leave a meeting that the retry would make twice.
    `code` and `retry_after` are the failed step's, so the caller is told what really went wrong.
    """

    def __init__(self, provider_meeting_id: str, cause: ProviderError) -> None:
        super().__init__(
            cause.provider, f"the meeting was made but not finished: {cause.message}", status=cause.status
        )
        self.provider_meeting_id = provider_meeting_id
        self.code = cause.code
        self.retry_after = cause.retry_after if isinstance(cause, ProviderRateLimited) else None


@dataclass(frozen=True)
class MeetingRequest:
    """What a provider needs to host a meeting. `start` is UTC; `timezone` is for display."""

    title: str
    agenda: str | None
    start: datetime
    duration_minutes: int
    timezone: str
    organizer: Person
    attendees: tuple[Person, ...]
    idempotency_key: str
    # Set when an earlier create with this idempotency key (sent at or after this instant) got no
    # answer: a provider without idempotent creates looks for that meeting before making one.
    maybe_created_since: datetime | None = None
    kind: MeetingKind | None = None
    # Attendees outside the company's domains (a provider may register them, as Zoom does).
    external_emails: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AttendeeRegistration:
    """An attendee registered for the meeting on the provider: the id the provider's events and
    report name them by (even when it hides their e-mail), and their personal join link."""

    email: str
    registrant_id: str
    join_url: str


@dataclass(frozen=True)
class ProviderMeeting:
    provider_meeting_id: str
    join_url: str
    start_url: str | None = None
    # Provider-specific handles kept for later calls (Zoom's instance uuid, Graph's event id...).
    extra: Mapping[str, str] = field(default_factory=dict)
    # The attendees registered on the provider, every one of them after an update.
    registrations: tuple[AttendeeRegistration, ...] = ()


@dataclass(frozen=True)
class ProviderHealth:
    token_obtainable: bool
    detail: str | None = None


class MeetingProvider(Protocol):
    name: ProviderName

    def create_meeting(self, request: MeetingRequest) -> ProviderMeeting: ...

    def update_meeting(self, provider_meeting_id: str, request: MeetingRequest) -> ProviderMeeting: ...

    def cancel_meeting(self, provider_meeting_id: str, extra: Mapping[str, str] | None = None) -> None:
        """Delete the meeting on the provider; a meeting already gone counts as cancelled.

        `extra` is what the create returned in `ProviderMeeting.extra` (kept with the meeting), for a
        provider whose meeting id alone does not locate the meeting (Meet: whose calendar holds it).
        """
        ...

    def fetch_attendance(self, provider_meeting_id: str, instance: str | None = None) -> AttendanceReport: ...

    def check_health(self) -> ProviderHealth: ...


@dataclass(frozen=True)
class ProviderSubscription:
    """A push subscription as the provider holds it (Graph subscription, Workspace Events subscription)."""

    resource: str
    provider_subscription_id: str
    expires_at: datetime


class SubscriptionManager(Protocol):
    """Keeps a provider's push subscriptions alive; the worker's renewal job drives it.

    `wanted()` names the resources the service must be subscribed to. The job creates what is
    missing, renews what expires within `renew_before`, and recreates a subscription whose renewal
    raises `ProviderNotFound` (the provider removed it). Every method may raise `ProviderError`.
    """

    renew_before: timedelta

    def wanted(self) -> Sequence[str]: ...

    def create(self, resource: str) -> ProviderSubscription: ...

    def renew(self, subscription: ProviderSubscription) -> ProviderSubscription: ...

    def delete(self, subscription: ProviderSubscription) -> None:
        """Remove it on the provider; one already gone counts as deleted."""
        ...
