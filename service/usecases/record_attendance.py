"""Turn stored webhook deliveries into attendance events, and events into attendance records.

Both steps run in database transactions that lock what they touch (deliveries with SKIP LOCKED,
meetings with a row lock), so several workers on one PostgreSQL never apply a delivery twice and
never overwrite each other's record; everything is derived from stored events, so a retry or a
replay yields the same result.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection

from integrations.plugin import EventDecoder
from service.domain.attendance import AttendanceRecord, Invitee, compute_attendance
from service.domain.events import AttendanceEvent, EventType, UndecodableDelivery
from service.domain.meeting import (
    Classification,
    CompanyDomains,
    Completeness,
    Meeting,
    MeetingKind,
    MeetingOrigin,
    MeetingStatus,
    ProviderName,
)
from service.domain.reports import AttendanceReport
from service.storage import attendance_records_repo, attendance_repo, inbox_repo, meetings_repo
from service.storage.database import Database, refuses_the_values
from service.storage.inbox_repo import StoredDelivery
from service.usecases.stored_attendance import record_document, record_inputs

log = structlog.get_logger("salesmeet.attendance")


@dataclass(frozen=True)
class InstanceWindow:
    """Which instances of a provider meeting id belong to the meeting scheduled under it: those
    starting from `before` its scheduled start to `after` its planned end."""

    before: timedelta = timedelta(hours=1)
    after: timedelta = timedelta(days=1)

    def holds(self, meeting: Meeting, instance_start: datetime) -> bool:
        return meeting.schedule.start - self.before <= instance_start <= meeting.schedule.end + self.after


@dataclass(frozen=True)
class AttendancePolicy:
    company: CompanyDomains
    min_attendance_seconds: int
    timezone: str
    # How long after a meeting's end its report is asked for; per provider, else the default.
    reconcile_delay: timedelta = timedelta(seconds=120)
    max_attempts: int = 8
    reconcile_delays: Mapping[ProviderName, timedelta] = field(default_factory=dict)
    # How long after its planned end a meeting whose end the provider never told counts as over
    # (the worker's sweep for unannounced ends waits as long).
    unannounced_end_grace: timedelta = timedelta(hours=1)
    instance_windows: Mapping[ProviderName, InstanceWindow] = field(default_factory=dict)

    def instance_window_for(self, provider: ProviderName) -> InstanceWindow:
        return self.instance_windows.get(provider, InstanceWindow())

    def reconcile_delay_for(self, provider: ProviderName) -> timedelta:
        return self.reconcile_delays.get(provider, self.reconcile_delay)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 2 s, 4 s, 8 s ... capped at 10 minutes."""
    return timedelta(seconds=min(600, 2**attempts))


def process_inbox_batch(
    db: Database, decoders: Mapping[str, EventDecoder], policy: AttendancePolicy, now: datetime, limit: int
) -> int:
    """Apply one batch of due deliveries; returns how many deliveries were handled."""
    with db.write() as conn:
        batch = inbox_repo.claim_due(conn, now, limit)
        if not batch:
            return 0
        decoded: list[tuple[StoredDelivery, list[AttendanceEvent]]] = []
        for delivery in batch:
            try:
                decoded.append((delivery, _events_of(delivery, decoders)))
            except Exception as exc:
                _record_failure(conn, delivery, exc, policy, now)
        stored = _store_events(conn, decoded, policy, now)
        done = [delivery.id for delivery, _ in stored]
        touched: dict[tuple[ProviderName, str, str], AttendanceEvent] = {}
        for _, events in stored:
            for event in events:
                instance = event.provider_meeting_instance or ""
                touched.setdefault((event.provider, event.provider_meeting_id, instance), event)
        inbox_repo.mark_done(conn, done, now)
        for (provider, provider_meeting_id, instance), sample in sorted(touched.items()):
            # A meeting scheduled here spans all its instances; otherwise each instance is a meeting.
            meeting_id = meetings_repo.find_by_provider_meeting(conn, provider, provider_meeting_id)
            if (
                meeting_id is not None
                and instance
                and not _instance_belongs(conn, meeting_id, sample, policy)
            ):
                meeting_id = None  # the id started again far from its slot: a meeting of its own
            if meeting_id is not None:
                # A meeting made from these webhooks before the create recorded the id (another
                # replica) is refreshed too, which folds it into this one.
                meetings_repo.mark_discovered_dirty(conn, provider, provider_meeting_id, now)
            else:
                meeting_id = meetings_repo.find_by_provider_meeting(
                    conn, provider, provider_meeting_id, instance
                ) or _record_discovered_meeting(conn, sample, instance, policy, now)
            meetings_repo.mark_dirty(conn, meeting_id, now)
    # After the commit, so the line never reports work that was rolled back. One line per batch
    # shows how several workers share the inbox.
    log.info(
        "inbox.batch_applied",
        deliveries=len(batch),
        done=len(done),
        first_id=batch[0].id,
        last_id=batch[-1].id,
    )
    return len(batch)


def _instance_belongs(
    conn: Connection, meeting_id: str, sample: AttendanceEvent, policy: AttendancePolicy
) -> bool:
    """Whether the instance `sample` is from started within the scheduled meeting's window."""
    meeting = meetings_repo.get_meeting(conn, meeting_id)
    instance = sample.provider_meeting_instance
    if meeting is None or instance is None:
        return True
    started = attendance_repo.instance_first_seen(conn, sample.provider, sample.provider_meeting_id, instance)
    return policy.instance_window_for(sample.provider).holds(meeting, started or sample.occurred_at)


def _events_of(delivery: StoredDelivery, decoders: Mapping[str, EventDecoder]) -> list[AttendanceEvent]:
    """The events a delivery means: those its resolver stored, or those it carries itself."""
    if delivery.resolved_events is not None:
        return delivery.resolved_events
    decoder = decoders.get(delivery.provider)
    if decoder is None:
        raise UndecodableDelivery(f"no decoder for provider {delivery.provider!r}")
    return decoder(delivery.body)


def _store_events(
    conn: Connection,
    decoded: list[tuple[StoredDelivery, list[AttendanceEvent]]],
    policy: AttendancePolicy,
    now: datetime,
) -> list[tuple[StoredDelivery, list[AttendanceEvent]]]:
    """Insert every decoded event; returns the deliveries whose events are stored.

    One statement for the whole batch in the common case; if it fails, delivery by delivery, so
    one bad delivery is retried or parked on its own and never holds back the rest.
    """
    try:
        with conn.begin_nested():
            attendance_repo.insert_events(conn, [(e, d.id) for d, events in decoded for e in events])
        return decoded
    except Exception as exc:  # fall through to per-delivery savepoints to find the culprit
        log.warning("inbox.batch_insert_failed", deliveries=len(decoded), error=repr(exc))
    stored = []
    for delivery, events in decoded:
        try:
            with conn.begin_nested():
                attendance_repo.insert_events(conn, [(e, delivery.id) for e in events])
        except Exception as exc:
            _record_failure(conn, delivery, exc, policy, now)
            continue
        stored.append((delivery, events))
    return stored


def _record_failure(
    conn: Connection, delivery: StoredDelivery, exc: Exception, policy: AttendancePolicy, now: datetime
) -> None:
    """Park a delivery that can never succeed at once; retry anything else with backoff, parked at
    the limit."""
    attempts = delivery.attempts + 1
    if _can_never_succeed(exc):
        error = str(exc) if isinstance(exc, UndecodableDelivery) else repr(exc)
        log.warning("inbox.delivery_parked", delivery_id=delivery.id, attempts=attempts, error=error)
        inbox_repo.mark_failed(conn, delivery.id, attempts=attempts, error=error, retry_at=None)
        return
    retry_at = now + retry_delay(attempts) if attempts < policy.max_attempts else None
    log.warning("inbox.delivery_failed", delivery_id=delivery.id, attempts=attempts, error=repr(exc))
    inbox_repo.mark_failed(conn, delivery.id, attempts=attempts, error=repr(exc), retry_at=retry_at)


def _can_never_succeed(exc: Exception) -> bool:
    """A failure caused by the delivery's own data fails the same way on every attempt: a payload
    that cannot be decoded, a value our types refuse (ValueError, TypeError, an overflowing date),
    or a value the database refuses. Retrying those only delays parking them."""
    if isinstance(exc, (UndecodableDelivery, ValueError, TypeError, ArithmeticError)):
        return True
    return refuses_the_values(exc)


def _record_discovered_meeting(
    conn: Connection, sample: AttendanceEvent, instance: str, policy: AttendancePolicy, now: datetime
) -> str:
    title = sample.meeting_title or f"{sample.provider.value} meeting {sample.provider_meeting_id}"
    log.info(
        "attendance.meeting_discovered",
        provider=sample.provider.value,
        provider_meeting_id=sample.provider_meeting_id,
    )
    return meetings_repo.insert_discovered(
        conn,
        meeting_id=str(uuid.uuid4()),
        provider=sample.provider,
        provider_meeting_id=sample.provider_meeting_id,
        instance=instance,
        title=title,
        organizer_email=(sample.host_email or "").lower(),
        start=sample.occurred_at,
        timezone=policy.timezone,
        now=now,
    )


def refresh_dirty_meetings(db: Database, policy: AttendancePolicy, now: datetime, limit: int = 50) -> int:
    """Recompute meetings marked dirty, one short transaction each; returns how many were refreshed.

    A meeting whose refresh fails stays dirty and waits before it is tried again (2 s, 4 s, 8 s ...
    up to 10 minutes, as deliveries do): it never holds the others back, a drain loop ends while it
    keeps failing, and its error is logged once per try rather than on every worker round.
    """
    with db.read() as conn:
        ids = meetings_repo.dirty_meeting_ids(conn, now, limit)
    refreshed = 0
    for meeting_id in ids:
        try:
            with db.write() as conn:
                refreshed += refresh_meeting(conn, meeting_id, policy, now, only_if_dirty=True)
        except Exception as exc:
            with db.write() as conn:
                failures, retry_at = meetings_repo.postpone_refresh(conn, meeting_id, now, retry_delay)
            log.error(
                "attendance.refresh_failed",
                meeting_id=meeting_id,
                failures=failures,
                retry_at=retry_at.isoformat(),
                error=repr(exc),
                exc_info=exc,
            )
    return refreshed


def compute_meeting_attendance(
    conn: Connection, meeting: Meeting, policy: AttendancePolicy, now: datetime
) -> tuple[AttendanceRecord, list[AttendanceEvent]]:
    """The meeting's attendance record from everything stored about it, as of `now` (reads only)."""
    assert meeting.provider is not None and meeting.provider_meeting_id is not None
    events = attendance_repo.load_events(
        conn, meeting.provider, meeting.provider_meeting_id, meeting.provider_instance
    )
    reported: AttendanceReport | None = None
    if meeting.completeness is Completeness.RECONCILED:
        state = meetings_repo.reconcile_state(conn, meeting.id)
        assert state is not None
        reported = attendance_repo.load_reported(
            conn, meeting.id, reported_start=state.reported_start, reported_end=state.reported_end
        )
    elif meeting.completeness is Completeness.PARTIAL or _over_without_its_end(meeting, events, policy, now):
        # The meeting is over but its report could not be had (or is not had yet): close it at the
        # last leave we saw rather than let open sessions grow for ever.
        reported = AttendanceReport(actual_start=None, actual_end=None, sessions=())
    # Sessions still open in a meeting known to be over close at its planned end (a scheduled
    # meeting only: a discovered one has no plan).
    closes_at = meeting.schedule.end if meeting.origin is MeetingOrigin.API else None
    registrations = {a.registrant_id: a.email for a in meeting.attendees if a.registrant_id}
    if meeting.origin is MeetingOrigin.API:
        events, reported = _within_window(
            meeting, events, reported, policy.instance_window_for(meeting.provider)
        )
    invitees = [Invitee(a.email, a.name) for a in meeting.attendees]
    if meeting.organizer.email and all(i.email != meeting.organizer.email for i in invitees):
        invitees.append(Invitee(meeting.organizer.email, meeting.organizer.name))

    def attendance_against(scheduled_start: datetime) -> AttendanceRecord:
        return compute_attendance(
            scheduled_start=scheduled_start,
            invitees=invitees,
            events=events,
            reported=reported,
            company=policy.company,
            min_attendance_seconds=policy.min_attendance_seconds,
            as_of=now,
            registrations=registrations,
            closes_at=closes_at,
        )

    record = attendance_against(meeting.schedule.start)
    actual_start = record.actual_start
    if meeting.origin is MeetingOrigin.PROVIDER and actual_start not in (None, meeting.schedule.start):
        # Nobody scheduled a discovered meeting: lateness is measured from its actual start. Its
        # stored start only follows the events seen so far, so measuring from it would make
        # late_seconds depend on the order in which deliveries were processed.
        assert actual_start is not None
        record = attendance_against(actual_start)
    return record, events


def _within_window(
    meeting: Meeting,
    events: list[AttendanceEvent],
    reported: AttendanceReport | None,
    window: InstanceWindow,
) -> tuple[list[AttendanceEvent], AttendanceReport | None]:
    """The events and report rows of the instances that belong to the scheduled meeting.

    An instance is placed by the first moment anything tells of it (event or report row). When a
    report row is dropped the report's own start and end (which span every instance) are dropped
    too: the kept instances' events and rows tell the meeting's span.
    """
    first_seen: dict[str, datetime] = {}
    for event in events:
        if event.provider_meeting_instance:
            known = first_seen.get(event.provider_meeting_instance)
            if known is None or event.occurred_at < known:
                first_seen[event.provider_meeting_instance] = event.occurred_at
    for row in reported.sessions if reported is not None else ():
        if row.instance:
            known = first_seen.get(row.instance)
            if known is None or row.joined_at < known:
                first_seen[row.instance] = row.joined_at
    outside = {instance for instance, at in first_seen.items() if not window.holds(meeting, at)}
    if not outside:
        return events, reported
    kept_events = [e for e in events if e.provider_meeting_instance not in outside]
    if reported is None:
        return kept_events, None
    rows = tuple(r for r in reported.sessions if r.instance not in outside)
    if len(rows) == len(reported.sessions):
        return kept_events, reported
    return kept_events, AttendanceReport(actual_start=None, actual_end=None, sessions=rows)


def _over_without_its_end(
    meeting: Meeting, events: Sequence[AttendanceEvent], policy: AttendancePolicy, now: datetime
) -> bool:
    """A scheduled meeting long past its planned end whose end the provider never told (its
    `meeting.ended` lost): over, though its report is not had yet."""
    return (
        meeting.origin is MeetingOrigin.API
        and meeting.completeness is Completeness.LIVE
        and now >= meeting.schedule.end + policy.unannounced_end_grace
        and not any(e.type is EventType.MEETING_ENDED for e in events)
    )


def closed_at_planned_end(
    meeting: Meeting, record: AttendanceRecord, events: Sequence[AttendanceEvent]
) -> bool:
    """Whether the record's end is the planned end it was closed at, not one the provider told."""
    return (
        meeting.origin is MeetingOrigin.API
        and record.actual_end == meeting.schedule.end
        and not any(e.type is EventType.MEETING_ENDED for e in events)
        and any(s.left_at == meeting.schedule.end for p in record.participants for s in p.sessions)
    )


CLOSED_AT_PLANNED_END = (
    "the provider never told this meeting's end (its end event was lost): sessions still open were "
    "closed at the planned end"
)


def refresh_meeting(
    conn: Connection, meeting_id: str, policy: AttendancePolicy, now: datetime, *, only_if_dirty: bool = False
) -> bool:
    """Recompute and store one meeting's record and status; False when there was nothing to do."""
    if not meetings_repo.lock_meeting(conn, meeting_id):
        return False
    state = meetings_repo.reconcile_state(conn, meeting_id)
    if state is None or (only_if_dirty and not state.attendance_dirty):
        return False  # another worker refreshed it while we waited for the lock
    meeting = meetings_repo.get_meeting(conn, meeting_id)
    if meeting is None or meeting.provider is None or meeting.provider_meeting_id is None:
        meetings_repo.clear_dirty(conn, meeting_id)
        return False
    provider = meeting.provider
    if meeting.origin is MeetingOrigin.PROVIDER:
        scheduled = meetings_repo.find_by_provider_meeting(
            conn, meeting.provider, meeting.provider_meeting_id
        )
        scheduled_meeting = meetings_repo.get_meeting(conn, scheduled) if scheduled is not None else None
        window = policy.instance_window_for(meeting.provider)
        if (
            scheduled is not None
            and scheduled != meeting_id
            and scheduled_meeting is not None
            and window.holds(scheduled_meeting, _first_seen(conn, meeting))
        ):
            # Its webhooks beat the create that scheduled it here (two replicas, one in between the
            # other's lookup and commit): it was that meeting all along. Its events stay; that
            # meeting's record picks them up.
            meetings_repo.delete_meeting_row(conn, meeting_id)
            meetings_repo.mark_dirty(conn, scheduled, now)
            return True
    record, events = compute_meeting_attendance(conn, meeting, policy, now)
    reconcile_after = state.reconcile_after
    if meeting.completeness is Completeness.RECONCILED and _outgrew_its_report(record, events, state):
        # The host started the meeting again after its report was taken (an instance still running,
        # or anything said after the report's end): live until the meeting is reconciled again,
        # over every instance.
        meetings_repo.reopen(conn, meeting_id)
        meeting = replace(meeting, completeness=Completeness.LIVE)
        reconcile_after = None
        record, events = compute_meeting_attendance(conn, meeting, policy, now)
    attendance_repo.write_participants(conn, meeting_id, record.participants)
    status: MeetingStatus | None = None
    next_reconcile: datetime | meetings_repo.Unchanged | None = meetings_repo.UNCHANGED
    if meeting.status not in (MeetingStatus.CANCELLED, MeetingStatus.FAILED):
        ended = record.actual_end is not None
        status = (
            MeetingStatus.ENDED
            if ended
            else MeetingStatus.STARTED
            if record.actual_start
            else MeetingStatus.SCHEDULED
        )
        provider_said_ended = any(e.type is EventType.MEETING_ENDED for e in events)
        if meeting.completeness is Completeness.LIVE:
            if record.actual_end is None and provider_said_ended:
                # An instance ended but a later one is running (a restart): the report is wanted
                # once that one has ended, not now.
                next_reconcile = None
            elif record.actual_end is not None and provider_said_ended and reconcile_after is None:
                next_reconcile = record.actual_end + policy.reconcile_delay_for(provider)
            elif record.actual_end is not None and reconcile_after is None:
                # Over by its planned end (its end event lost): its report is wanted now, as the
                # sweep for unannounced ends would, which no longer sees it once it is ended.
                next_reconcile = now
    reason = meeting.completeness_reason
    if closed_at_planned_end(meeting, record, events) and CLOSED_AT_PLANNED_END not in (reason or ""):
        meetings_repo.set_completeness_reason(
            conn,
            meeting_id,
            CLOSED_AT_PLANNED_END if reason is None else f"{reason}; {CLOSED_AT_PLANNED_END}",
        )
    discovered = (
        _discovered_meeting_shape(record, events, meeting.kind_derived)
        if meeting.origin is MeetingOrigin.PROVIDER
        else None
    )
    meetings_repo.store_refresh(
        conn,
        meeting_id,
        actual_start=record.actual_start,
        actual_end=record.actual_end,
        status=status,
        reconcile_after=next_reconcile,
        discovered=discovered,
        now=now,
    )
    # Fingerprinted as the meeting now stands (a discovered meeting's start just followed its events).
    refreshed = meetings_repo.get_meeting(conn, meeting_id)
    assert refreshed is not None
    attendance_records_repo.store_record(
        conn,
        meeting_id,
        record_document(record),
        inputs=record_inputs(refreshed, policy.company, policy.min_attendance_seconds),
        computed_at=now,
    )
    return True


def _first_seen(conn: Connection, meeting: Meeting) -> datetime:
    """When a discovered meeting's instance was first told of (its stored start otherwise)."""
    assert meeting.provider is not None and meeting.provider_meeting_id is not None
    seen = attendance_repo.instance_first_seen(
        conn, meeting.provider, meeting.provider_meeting_id, meeting.provider_instance or ""
    )
    return seen or meeting.schedule.start


def _outgrew_its_report(
    record: AttendanceRecord, events: Sequence[AttendanceEvent], state: meetings_repo.ReconcileState
) -> bool:
    reported_end = state.reported_end
    after_report = reported_end is not None and any(e.occurred_at > reported_end for e in events)
    return record.actual_end is None or after_report


def _discovered_meeting_shape(
    record: AttendanceRecord, events: Sequence[AttendanceEvent], kind_derived: bool
) -> meetings_repo.DiscoveredShape:
    """A meeting nobody scheduled here takes its times from what happened, its kind from who came,
    and its title and host from the earliest event that names them (whatever order they came in)."""
    in_time_order = sorted(events, key=lambda e: (e.occurred_at, e.event_key))
    title = next((e.meeting_title for e in in_time_order if e.meeting_title), None)
    host = next((e.host_email for e in in_time_order if e.host_email), None)
    kind: MeetingKind | None = None
    if kind_derived:
        external = any(p.classification is Classification.EXTERNAL for p in record.participants)
        kind = MeetingKind.CUSTOMER if external else MeetingKind.INTERNAL
    start_at = end_at = None
    duration: int | None = None
    if record.actual_start is not None:
        start_at = record.actual_start
        if record.actual_end is not None:
            duration = max(1, math.ceil((record.actual_end - record.actual_start).total_seconds() / 60))
            end_at = record.actual_start + timedelta(minutes=duration)
        else:
            end_at = record.actual_start + timedelta(minutes=1)
    return meetings_repo.DiscoveredShape(
        title=title,
        organizer_email=host,
        kind=kind,
        start_at=start_at,
        end_at=end_at,
        duration_minutes=duration,
    )
