"""Create, reschedule and cancel meetings on the providers for the CRM.

Idempotent create: the CRM's external reference is claimed in the database before the provider
is called, so a retried or concurrent identical request waits for the first one and returns the
same meeting; the provider is called once. A failed provider call removes the claim, so nothing
half-created is left behind.

A create that got no answer (`ProviderOutcomeUnknown`) may have made the meeting, so its claim is
kept, marked with the provider it was sent to, and the caller gets 504 `provider_timeout`. The
CRM's retry resumes that claim: the provider is asked for the meeting first and creates it only if
it is not there, so a timed-out create is found again rather than made twice.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from integrations.base import (
    MeetingRequest,
    ProviderCreateUnfinished,
    ProviderError,
    ProviderMeeting,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
)
from service.domain.meeting import (
    Attendee,
    Classification,
    CompanyDomains,
    ExternalRef,
    Meeting,
    MeetingKind,
    MeetingOrigin,
    MeetingStatus,
    Person,
    ProviderAttempt,
    ProviderName,
    Schedule,
    classify_attendees,
    derive_kind,
    minutes_between,
)
from service.domain.routing import RoutingTable, choose_provider
from service.errors import Conflict, InvalidInput, NotFound, ProviderFailed, ProviderNotConfigured
from service.storage import meetings_repo
from service.storage.database import Database
from service.usecases.provider_registry import ProviderRegistry

log = structlog.get_logger("salesmeet.meetings")


@dataclass(frozen=True)
class AttendeeInput:
    email: str
    name: str | None
    required: bool


@dataclass(frozen=True)
class MeetingInput:
    title: str
    agenda: str | None
    kind: MeetingKind | None
    schedule: Schedule
    organizer: Person
    attendees: tuple[AttendeeInput, ...]
    external_ref: ExternalRef | None
    provider: ProviderName | None


@dataclass(frozen=True)
class MeetingChanges:
    """A PATCH: only the fields that are not None change (`duration_minutes` or `end`, not both)."""

    title: str | None = None
    agenda: str | None = None
    kind: MeetingKind | None = None
    start: datetime | None = None
    duration_minutes: int | None = None
    end: datetime | None = None
    timezone: str | None = None
    attendees: tuple[AttendeeInput, ...] | None = None

    def schedule_from(self, current: Schedule) -> Schedule:
        """The new schedule, computed against the meeting as it is now (not as the caller saw it)."""
        start = self.start or current.start
        if self.duration_minutes is not None:
            minutes = self.duration_minutes
        elif self.end is not None:
            try:
                minutes = minutes_between(start, self.end)
            except ValueError as exc:
                raise InvalidInput(
                    str(exc), details=[{"field": "end", "code": "invalid_end", "message": str(exc)}]
                ) from exc
        else:
            minutes = current.duration_minutes
        return Schedule(start, minutes, self.timezone or current.timezone)


class _MeetingLocks:
    """One lock per meeting id within this process, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[str, _Lock] = weakref.WeakValueDictionary()

    def of(self, meeting_id: str) -> _Lock:
        with self._guard:
            lock = self._locks.get(meeting_id)
            if lock is None:
                lock = self._locks[meeting_id] = _Lock()
            return lock


class _Lock:
    def __init__(self) -> None:
        self.lock = threading.Lock()


# A claim still `creating` after this long belongs to a request that died between claiming and
# recording (the longest provider call with its retries is well under it): a retry takes it over.
STALE_CLAIM_AFTER = timedelta(minutes=5)
# The longest a change may hold a meeting on the provider before another request may try.
CHANGE_LEASE = timedelta(minutes=5)


class MeetingScheduler:
    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        routing: RoutingTable,
        company: CompanyDomains,
        clock: Callable[[], datetime],
        claim_wait_seconds: float = 60.0,
    ) -> None:
        self._db = db
        self._providers = providers
        self._routing = routing
        self._company = company
        self._clock = clock
        self._claim_wait_seconds = claim_wait_seconds
        self._locks = _MeetingLocks()

    # -- create -------------------------------------------------------------------------------

    def create(self, data: MeetingInput) -> tuple[Meeting, bool]:
        """Returns (meeting, created); created is False when the external reference was known."""
        if not self._company.is_internal(data.organizer.email):
            raise InvalidInput(
                "the organizer must have an address in the company's internal domains",
                details=[{"field": "organizer.email", "code": "organizer_not_internal"}],
            )
        attendees = classify_attendees([(a.email, a.name, a.required) for a in data.attendees], self._company)
        kind = data.kind or derive_kind(attendees)
        choice = (
            None
            if data.provider
            else choose_provider(
                self._routing,
                kind=kind,
                organizer_email=data.organizer.email,
                attendee_emails=[a.email for a in attendees],
            )
        )
        if data.provider is not None and not self._providers.has(data.provider):
            raise ProviderNotConfigured(
                f"provider '{data.provider.value}' is not enabled in the config file",
                details=[
                    {
                        "field": "provider",
                        "code": "provider_not_configured",
                        "message": "enabled providers: "
                        + (", ".join(n.value for n in self._providers.names()) or "none"),
                    }
                ],
            )
        primary = data.provider or (choice.provider if choice else self._routing.default)
        self._providers.get(primary)  # refuse an unconfigured provider before claiming anything
        deadline = time.monotonic() + self._claim_wait_seconds
        resumed: meetings_repo.Claim | None = None
        while True:
            meeting_id = str(uuid.uuid4())
            try:
                with self._db.write() as conn:
                    meetings_repo.insert_claim(
                        conn,
                        meeting_id=meeting_id,
                        origin=MeetingOrigin.API,
                        title=data.title,
                        agenda=data.agenda,
                        kind=kind,
                        kind_derived=data.kind is None,
                        schedule=data.schedule,
                        organizer=data.organizer,
                        attendees=attendees,
                        external_ref=data.external_ref,
                        now=self._clock(),
                    )
                break
            except meetings_repo.ExternalRefTaken:
                assert data.external_ref is not None
                existing = self._wait_for_claim(data.external_ref, deadline)
                if isinstance(existing, Meeting):
                    return existing, False
                if existing is not None:
                    resumed, meeting_id = existing, existing.meeting_id
                    break
                # The claim vanished (its provider call failed): try to claim it ourselves.

        request = _provider_request(
            data.title,
            data.agenda,
            data.schedule,
            data.organizer,
            attendees,
            idempotency_key=meeting_id,
            kind=kind,
        )
        fallback = choice.fallback if choice else None
        try:
            if resumed is not None and resumed.unknown_on is not None:
                # Only where the unanswered create went, and only after looking for its meeting.
                provider = resumed.unknown_on
                request = replace(request, maybe_created_since=resumed.claimed_at)
                made = self._providers.call(provider, lambda p: p.create_meeting(request))
                attempts: tuple[ProviderAttempt, ...] = ()
            else:
                provider, made, attempts = self._create_on_provider(primary, fallback, request)
        except ProviderOutcomeUnknown as exc:
            with self._db.write() as conn:
                if data.external_ref is None:  # no retry can name this claim to settle it
                    meetings_repo.delete_meeting_row(conn, meeting_id)
                else:
                    meetings_repo.mark_outcome_unknown(conn, meeting_id, exc.provider, self._clock())
            if data.external_ref is None and isinstance(exc, ProviderCreateUnfinished):
                # Made but unfinished, and no retry will come to finish it: take it back.
                self._cancel_quietly(exc.provider, exc.provider_meeting_id, {})
            log.warning("meeting.create_outcome_unknown", meeting_id=meeting_id, provider=exc.provider.value)
            raise _as_app_error(exc) from exc
        except ProviderError as exc:
            with self._db.write() as conn:
                meetings_repo.delete_meeting_row(conn, meeting_id)
            raise _as_app_error(exc) from exc
        try:
            with self._db.write() as conn:
                recorded = meetings_repo.record_provider_result(
                    conn,
                    meeting_id,
                    provider=provider,
                    provider_meeting_id=made.provider_meeting_id,
                    join_url=made.join_url,
                    start_url=made.start_url,
                    extra=made.extra,
                    attempts=attempts,
                    now=self._clock(),
                )
                if recorded:
                    meetings_repo.record_registrations(conn, meeting_id, _registrations(made))
                meeting = meetings_repo.get_meeting(conn, meeting_id) if recorded else None
        except Exception:
            # We could not record it: take it back on the provider rather than leave an orphan.
            log.error("meeting.record_failed", meeting_id=meeting_id, provider=provider.value)
            self._cancel_quietly(provider, made.provider_meeting_id, made.extra)
            with self._db.write() as conn:
                meetings_repo.delete_meeting_row(conn, meeting_id)
            raise
        if meeting is None:
            # This request was so slow that a retry took its claim over: the retry's meeting is
            # the one; this one is taken back on the provider.
            log.warning("meeting.claim_lost", meeting_id=meeting_id, provider=provider.value)
            self._cancel_quietly(provider, made.provider_meeting_id, made.extra)
            if data.external_ref is not None:
                existing = self._wait_for_claim(
                    data.external_ref, time.monotonic() + self._claim_wait_seconds
                )
                if isinstance(existing, Meeting):
                    return existing, False
            raise Conflict("this request's claim on its external_ref was taken over by a retry; retry it")
        log.info("meeting.created", meeting_id=meeting_id, provider=provider.value)
        return meeting, True

    def _create_on_provider(
        self, primary: ProviderName, fallback: ProviderName | None, request: MeetingRequest
    ) -> tuple[ProviderName, ProviderMeeting, tuple[ProviderAttempt, ...]]:
        try:
            return primary, self._providers.call(primary, lambda p: p.create_meeting(request)), ()
        except ProviderError as exc:
            # A create that may have happened must never be made a second time elsewhere.
            unknown = isinstance(exc, ProviderOutcomeUnknown)
            if unknown or fallback is None or not self._providers.has(fallback):
                raise
            attempt = ProviderAttempt(primary, exc.code, exc.message)
            log.warning("meeting.fallback", primary=primary.value, fallback=fallback.value, error=exc.code)
            made = self._providers.call(fallback, lambda p: p.create_meeting(request))
            return fallback, made, (attempt,)

    def _wait_for_claim(self, ref: ExternalRef, deadline: float) -> Meeting | meetings_repo.Claim | None:
        """The meeting once its claim is settled; None once the claim is gone (claim afresh); the
        claim itself once this request took it over to settle a create that got no answer."""
        delay = 0.01
        while True:
            with self._db.read() as conn:
                claim = meetings_repo.claim_status(conn, ref)
                if claim is None:
                    return None
                meeting_id, status, claimed_at = claim.meeting_id, claim.status, claim.claimed_at
                if status != meetings_repo.CREATING:
                    meeting = meetings_repo.get_meeting(conn, meeting_id)
                    if meeting is not None:
                        return meeting
            if status == meetings_repo.CREATING and claim.unknown_on is not None:
                with self._db.write() as conn:
                    owner = uuid.uuid4().hex
                    if meetings_repo.resume_claim(conn, meeting_id, owner, self._clock(), CHANGE_LEASE):
                        log.info("meeting.claim_resumed", meeting_id=meeting_id)
                        return claim
            elif status == meetings_repo.CREATING and claimed_at < self._clock() - STALE_CLAIM_AFTER:
                with self._db.write() as conn:
                    if meetings_repo.delete_stale_claim(conn, meeting_id, claimed_before=claimed_at):
                        log.warning("meeting.stale_claim_taken_over", meeting_id=meeting_id)
                return None  # claim it afresh
            if time.monotonic() > deadline:
                raise Conflict("a request with this external_ref is still being created; retry shortly")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _cancel_quietly(
        self, provider: ProviderName, provider_meeting_id: str, extra: Mapping[str, str]
    ) -> None:
        try:
            self._providers.call(provider, lambda p: p.cancel_meeting(provider_meeting_id, extra))
        except ProviderError as exc:
            log.error("meeting.orphan_on_provider", provider=provider.value, error=exc.code)

    # -- read ---------------------------------------------------------------------------------

    def get(self, meeting_id: str) -> Meeting:
        with self._db.read() as conn:
            meeting = meetings_repo.get_meeting(conn, meeting_id)
        if meeting is None:
            raise NotFound(f"no meeting {meeting_id!r}")
        return meeting

    # -- update -------------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self, meeting_id: str) -> Iterator[str]:
        """Serialise changes to one meeting, so the provider and salesmeet end up agreeing.

        Requests in this process queue on a per-meeting lock; across replicas a short lease on the
        meeting's row says who is changing it (409 for the others). No database lock or connection
        is held while the provider is called.
        """
        holder = self._locks.of(meeting_id)  # keep it referenced: the registry only holds it weakly
        with holder.lock:
            owner = uuid.uuid4().hex
            with self._db.write() as conn:
                taken = meetings_repo.take_change_lease(conn, meeting_id, owner, self._clock(), CHANGE_LEASE)
            if not taken:
                self.get(meeting_id)  # 404 for an unknown meeting, rather than a 409
                raise Conflict("another request is changing this meeting right now; retry shortly")
            try:
                yield owner
            finally:
                with self._db.write() as conn:
                    meetings_repo.release_change_lease(conn, meeting_id, owner)

    def update(self, meeting_id: str, changes: MeetingChanges) -> Meeting:
        with self._exclusive(meeting_id) as owner:
            meeting = self.get(meeting_id)
            if meeting.status is not MeetingStatus.SCHEDULED:
                raise Conflict(f"a {meeting.status.value} meeting cannot be changed")
            if meeting.provider is None or meeting.provider_meeting_id is None:
                raise Conflict("this meeting has no provider meeting to change")
            attendees = (
                classify_attendees([(a.email, a.name, a.required) for a in changes.attendees], self._company)
                if changes.attendees is not None
                else meeting.attendees
            )
            kind = changes.kind or (derive_kind(attendees) if meeting.kind_derived else meeting.kind)
            updated = replace(
                meeting,
                title=changes.title if changes.title is not None else meeting.title,
                agenda=changes.agenda if changes.agenda is not None else meeting.agenda,
                kind=kind,
                kind_derived=meeting.kind_derived and changes.kind is None,
                schedule=changes.schedule_from(meeting.schedule),
                attendees=attendees,
            )
            request = _provider_request(
                updated.title,
                updated.agenda,
                updated.schedule,
                updated.organizer,
                attendees,
                idempotency_key=meeting.id,
                kind=kind,
            )
            provider_meeting_id = meeting.provider_meeting_id
            try:
                made = self._providers.call(
                    meeting.provider, lambda p: p.update_meeting(provider_meeting_id, request)
                )
            except ProviderError as exc:
                raise _as_app_error(exc) from exc
            with self._db.write() as conn:
                applied = meetings_repo.apply_schedule(
                    conn,
                    meeting_id,
                    owner,
                    updated,
                    join_url=made.join_url or meeting.join_url,
                    start_url=made.start_url or meeting.start_url,
                    now=self._clock(),
                )
                if applied and changes.attendees is not None:
                    meetings_repo.replace_attendees(conn, meeting_id, attendees)
                if applied and made.registrations:
                    meetings_repo.record_registrations(conn, meeting_id, _registrations(made))
            if not applied:
                log.error(
                    "meeting.change_not_recorded", meeting_id=meeting_id, provider=meeting.provider.value
                )
                raise Conflict(
                    "the meeting changed while this update was applied on the provider; GET it and retry"
                )
        log.info("meeting.updated", meeting_id=meeting_id)
        return self.get(meeting_id)

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, meeting_id: str) -> Meeting:
        with self._exclusive(meeting_id) as owner:
            meeting = self.get(meeting_id)
            if meeting.status is MeetingStatus.CANCELLED:
                return meeting
            if meeting.status is not MeetingStatus.SCHEDULED:
                raise Conflict(f"a {meeting.status.value} meeting cannot be cancelled")
            if meeting.provider is not None and meeting.provider_meeting_id is not None:
                provider_meeting_id = meeting.provider_meeting_id
                try:
                    extra = meeting.provider_extra
                    self._providers.call(
                        meeting.provider, lambda p: p.cancel_meeting(provider_meeting_id, extra)
                    )
                except ProviderError as exc:
                    raise _as_app_error(exc) from exc
            with self._db.write() as conn:
                applied = meetings_repo.apply_cancellation(conn, meeting_id, owner, self._clock())
            if not applied:
                log.error("meeting.cancel_not_recorded", meeting_id=meeting_id)
                raise Conflict("the meeting changed while it was being cancelled; GET it and retry")
        log.info("meeting.cancelled", meeting_id=meeting_id)
        return self.get(meeting_id)


def _provider_request(
    title: str,
    agenda: str | None,
    schedule: Schedule,
    organizer: Person,
    attendees: Sequence[Attendee],
    *,
    idempotency_key: str,
    kind: MeetingKind | None = None,
) -> MeetingRequest:
    return MeetingRequest(
        title=title,
        agenda=agenda,
        start=schedule.start,
        duration_minutes=schedule.duration_minutes,
        timezone=schedule.timezone,
        organizer=organizer,
        attendees=tuple(Person(a.email, a.name) for a in attendees),
        idempotency_key=idempotency_key,
        kind=kind,
        external_emails=frozenset(a.email for a in attendees if a.classification is Classification.EXTERNAL),
    )


def _registrations(made: ProviderMeeting) -> dict[str, tuple[str, str]]:
    return {r.email.strip().lower(): (r.registrant_id, r.join_url) for r in made.registrations}


def _as_app_error(exc: ProviderError) -> ProviderFailed:
    retry_after = exc.retry_after if isinstance(exc, ProviderRateLimited | ProviderCreateUnfinished) else None
    failed = ProviderFailed(exc.code, exc.message, provider=exc.provider.value, retry_after=retry_after)
    if isinstance(exc, ProviderOutcomeUnknown) and not isinstance(exc, ProviderCreateUnfinished):
        failed.status = 504  # a gateway timeout: retry with the same external_ref to settle it
    return failed
