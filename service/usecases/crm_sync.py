"""Inbound CRM records become meetings: create, reschedule in place, or cancel, through the
schedule_meeting use case, idempotent on the record id (`external_ref` {system: <crm>, id}).

Deliveries are stored verified by the receiver (`crm_deliveries`); this applies them outside
every transaction (the providers are called). A delivery older than the last one applied for the
same record (by the record's `version`) changes nothing, so retried and out-of-order deliveries
neither create twice nor undo a newer change. Provider failures are retried with backoff; a record
that can never be a meeting is parked with the reason (`salesmeet outbox replay --inbound` retries).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from integrations.crm.base import CrmRecord, UnreadableRecord
from integrations.crm.plugin import ActionMeeting, ActionRefused, RecordParser
from service.domain.meeting import (
    CompanyDomains,
    ExternalRef,
    MeetingKind,
    MeetingStatus,
    Person,
    Schedule,
)
from service.errors import AppError, Conflict, InvalidInput, NotFound
from service.storage import crm_repo, meetings_repo
from service.storage.database import Database
from service.usecases.schedule_meeting import AttendeeInput, MeetingChanges, MeetingInput, MeetingScheduler

log = structlog.get_logger("salesmeet.crm")

MAX_RETRY_DELAY = timedelta(minutes=10)


@dataclass(frozen=True)
class CrmInbound:
    """One enabled CRM's inbound side: how its stored deliveries are read."""

    name: str
    parse: RecordParser


def _attendee_inputs(record: CrmRecord) -> tuple[AttendeeInput, ...]:
    return tuple(AttendeeInput(e, record.attendee_names.get(e), True) for e in record.attendee_emails)


def meeting_input(record: CrmRecord, system: str) -> MeetingInput:
    """The create request a record means; `InvalidInput` names what it lacks."""
    if record.start is None or record.duration_minutes is None:
        raise InvalidInput("the record has no start", details=[{"field": "start", "code": "missing"}])
    if not record.organizer_email:
        raise InvalidInput(
            "the record has no organizer e-mail", details=[{"field": "organizer", "code": "missing"}]
        )
    try:
        schedule = Schedule(record.start, record.duration_minutes, record.timezone)
    except ValueError as exc:
        raise InvalidInput(str(exc), details=[{"field": "start", "code": "invalid_schedule"}]) from exc
    kind = MeetingKind(record.kind) if record.kind in {k.value for k in MeetingKind} else None
    return MeetingInput(
        title=record.title,
        agenda=None,
        kind=kind,
        schedule=schedule,
        organizer=Person(record.organizer_email),
        attendees=_attendee_inputs(record),
        external_ref=ExternalRef(system, record.object_id),
        provider=None,
    )


def _changes(record: CrmRecord) -> MeetingChanges:
    return MeetingChanges(
        title=record.title,
        start=record.start,
        duration_minutes=record.duration_minutes,
        timezone=record.timezone,
        attendees=_attendee_inputs(record),
    )


class CrmRecordApplier:
    def __init__(self, db: Database, scheduler: MeetingScheduler, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._scheduler = scheduler
        self._clock = clock

    def apply(self, crm: str, record: CrmRecord) -> str:
        """Apply one record; returns what happened (created, rescheduled, cancelled, unchanged, stale)."""
        with self._db.read() as conn:
            state = crm_repo.record_state(conn, crm, record.object_id)
            claimed = meetings_repo.claim_status(conn, ExternalRef(crm, record.object_id))
        applied = state.applied_version if state else None
        if applied is not None and record.version is not None and record.version < applied:
            log.info("crm.record_stale", crm=crm, object_id=record.object_id)
            return "stale"
        meeting_id = claimed.meeting_id if claimed else None
        outcome = self._apply_to_meeting(crm, record, meeting_id)
        if outcome[1] is not None:
            meeting_id = outcome[1]
        newest = max(
            v for v in (record.version, state.applied_version if state else None, -1) if v is not None
        )
        context = {**(state.context if state else {}), **record.context}
        with self._db.write() as conn:
            crm_repo.save_record(
                conn,
                crm,
                record.object_id,
                meeting_id=meeting_id,
                version=None if newest < 0 else newest,
                context=context,
                now=self._clock(),
            )
        log.info("crm.record_applied", crm=crm, object_id=record.object_id, result=outcome[0])
        return outcome[0]

    def _apply_to_meeting(
        self, crm: str, record: CrmRecord, meeting_id: str | None
    ) -> tuple[str, str | None]:
        if record.cancelled:
            if meeting_id is None:
                return "unchanged", None
            try:
                self._scheduler.cancel(meeting_id)
            except Conflict as exc:  # it already ran: an outcome, not a cancellation
                log.warning("crm.cancel_refused", crm=crm, object_id=record.object_id, reason=exc.message)
                return "unchanged", meeting_id
            return "cancelled", meeting_id
        if meeting_id is None:
            meeting, created = self._scheduler.create(meeting_input(record, crm))
            return ("created" if created else "unchanged"), meeting.id
        meeting = self._scheduler.get(meeting_id)
        if meeting.status is not MeetingStatus.SCHEDULED:
            return "unchanged", meeting_id  # cancelled or already held: a late delivery changes nothing
        wanted = meeting_input(record, crm)
        same = (
            meeting.title == wanted.title
            and meeting.schedule == wanted.schedule
            and {a.email for a in meeting.attendees} == {a.email for a in wanted.attendees}
        )
        if same:
            return "unchanged", meeting_id
        self._scheduler.update(meeting_id, _changes(record))
        return "rescheduled", meeting_id


def apply_crm_deliveries(
    db: Database,
    inbound: Mapping[str, CrmInbound],
    applier: CrmRecordApplier,
    now: datetime,
    *,
    batch_size: int,
    max_attempts: int,
) -> int:
    """Apply a batch of due deliveries; returns how many were handled."""
    with db.write() as conn:
        claimed = crm_repo.claim_deliveries(conn, now, batch_size)
    for delivery in claimed:
        crm = inbound.get(delivery.crm)
        error: str | None = None
        retryable = False
        try:
            if crm is None:
                raise UnreadableRecord(f"no CRM {delivery.crm!r} is enabled")
            for record in crm.parse(delivery.body, delivery.headers):
                applier.apply(crm.name, record)
        except UnreadableRecord as exc:
            error = f"unreadable: {exc}"
        except AppError as exc:
            # A provider's failure (502) or a conflict with a concurrent change is worth retrying;
            # a record the meeting model refuses (422) is not.
            error, retryable = f"{exc.code}: {exc.message}", exc.status >= 500 or isinstance(exc, Conflict)
        with db.write() as conn:
            if error is None:
                crm_repo.finish_delivery(conn, delivery.id, now)
                continue
            attempts = delivery.attempts + 1
            retry_at = None
            if retryable and attempts < max_attempts:
                retry_at = now + min(timedelta(seconds=2**attempts), MAX_RETRY_DELAY)
            crm_repo.retry_delivery(
                conn, delivery.id, attempts=attempts, retry_at=retry_at, error=error, now=now
            )
            log.warning("crm.delivery_failed", crm=delivery.crm, delivery_id=delivery.id, error=error)
    return len(claimed)


class SchedulerActions:
    """`MeetingActions` for synchronous CRM endpoints, through the schedule_meeting use case."""

    def __init__(self, scheduler: MeetingScheduler, company: CompanyDomains) -> None:
        self._scheduler = scheduler
        self._company = company

    def create(self, record: CrmRecord, system: str) -> ActionMeeting:
        try:
            meeting, _ = self._scheduler.create(meeting_input(record, system))
        except AppError as exc:
            raise ActionRefused(exc.status, exc.code, exc.message) from exc
        return ActionMeeting(meeting.id, meeting.join_url)

    def update(self, meeting_id: str, record: CrmRecord) -> ActionMeeting:
        try:
            meeting = self._scheduler.update(meeting_id, _changes(record))
        except (AppError, ValueError) as exc:
            if isinstance(exc, AppError):
                raise ActionRefused(exc.status, exc.code, exc.message) from exc
            raise ActionRefused(422, "invalid_input", str(exc)) from exc
        return ActionMeeting(meeting.id, meeting.join_url)

    def cancel(self, meeting_id: str) -> None:
        try:
            self._scheduler.cancel(meeting_id)
        except NotFound as exc:
            raise ActionRefused(404, exc.code, exc.message) from exc
        except AppError as exc:
            raise ActionRefused(exc.status, exc.code, exc.message) from exc

    def is_licensed(self, email: str) -> bool:
        return self._company.is_internal(email)
