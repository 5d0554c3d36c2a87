"""After a meeting: fetch the provider's own report and make it the record's source of sessions.

Webhooks can be dropped (Zoom gives up after three retries); the post-meeting report cannot. A
meeting whose report cannot be had after several tries is marked `partial` with the reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from integrations.base import ProviderError, ProviderNotFound, ProviderRateLimited
from service.domain.events import EventType
from service.domain.meeting import Meeting
from service.domain.reports import AttendanceReport
from service.storage import attendance_repo, meetings_repo
from service.storage.database import Database
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.record_attendance import AttendancePolicy, refresh_meeting

log = structlog.get_logger("salesmeet.reconcile")

MAX_RECONCILE_ATTEMPTS = 6


def reconcile_due_meetings(
    db: Database, providers: ProviderRegistry, policy: AttendancePolicy, now: datetime, limit: int = 20
) -> list[str]:
    """Reconcile up to `limit` meetings due at `now`; returns their ids."""
    with db.read() as conn:
        due = meetings_repo.due_for_reconciliation(conn, now, limit)
    for meeting in due:
        reconcile_meeting(db, providers, policy, meeting, now)
    return [meeting.id for meeting in due]


def reconcile_meeting(
    db: Database, providers: ProviderRegistry, policy: AttendancePolicy, meeting: Meeting, now: datetime
) -> None:
    assert meeting.provider is not None and meeting.provider_meeting_id is not None
    provider_meeting_id = meeting.provider_meeting_id
    try:
        # A meeting scheduled here spans every instance; one seen only in events is one instance.
        instance = meeting.provider_instance
        report = providers.call(meeting.provider, lambda p: p.fetch_attendance(provider_meeting_id, instance))
    except ProviderNotFound as exc:
        if not _no_report_will_come(db, meeting):
            _record_failure(db, meeting, exc, now)
            return
        # Zoom keeps a participants report only for meetings with two participants or more: a host
        # who waited alone for a customer who never came gets "not found" for ever. Its webhooks
        # are all there is; waiting for a report would only delay the no-show being counted.
        empty = AttendanceReport(actual_start=None, actual_end=None, sessions=())
        _store_report(db, policy, meeting.id, empty, now, reason=NO_REPORT_REASON)
        log.info("reconcile.no_report", meeting_id=meeting.id)
        return
    except ProviderError as exc:
        _record_failure(db, meeting, exc, now)
        return
    _store_report(db, policy, meeting.id, report, now)
    log.info("reconcile.done", meeting_id=meeting.id, sessions=len(report.sessions))


_ATTENDANCE_EVENTS = (EventType.PARTICIPANT_JOINED, EventType.PARTICIPANT_LEFT)
NO_REPORT_REASON = (
    "the provider keeps no participants report for this meeting (at most one participant in each "
    "instance): completed from its webhooks"
)


def _no_report_will_come(db: Database, meeting: Meeting) -> bool:
    """Whether the webhooks show at most one participant in every instance of the meeting."""
    assert meeting.provider is not None and meeting.provider_meeting_id is not None
    with db.read() as conn:
        events = attendance_repo.load_events(
            conn, meeting.provider, meeting.provider_meeting_id, meeting.provider_instance
        )
    people: dict[str | None, set[str]] = {}
    for event in events:
        # Waiting-room time is not attendance: it makes no participant of the report.
        if event.participant is not None and event.type in _ATTENDANCE_EVENTS:
            people.setdefault(event.provider_meeting_instance, set()).add(event.participant.key)
    return all(len(keys) <= 1 for keys in people.values())


def _store_report(
    db: Database,
    policy: AttendancePolicy,
    meeting_id: str,
    report: AttendanceReport,
    now: datetime,
    *,
    reason: str | None = None,
) -> None:
    with db.write() as conn:
        if not meetings_repo.lock_meeting(conn, meeting_id):
            return
        attendance_repo.replace_reported_sessions(conn, meeting_id, report.sessions)
        meetings_repo.mark_reconciled(
            conn,
            meeting_id,
            reported_start=report.actual_start,
            reported_end=report.actual_end,
            reason=reason,
        )
        refresh_meeting(conn, meeting_id, policy, now)


def _record_failure(db: Database, meeting: Meeting, exc: ProviderError, now: datetime) -> None:
    with db.write() as conn:
        state = meetings_repo.reconcile_state(conn, meeting.id)
        attempts = (state.reconcile_attempts if state else 0) + 1
        retry_at: datetime | None = None
        if attempts < MAX_RECONCILE_ATTEMPTS and (exc.retryable or exc.code == "provider_not_found"):
            wait = (
                exc.retry_after
                if isinstance(exc, ProviderRateLimited) and exc.retry_after
                else 60 * 2**attempts
            )
            retry_at = now + timedelta(seconds=min(wait, 6 * 3600))
        meetings_repo.record_reconcile_failure(
            conn,
            meeting.id,
            attempts=attempts,
            retry_at=retry_at,
            reason=f"no post-meeting report from the provider: {exc.code}: {exc.message}",
        )
    log.warning("reconcile.failed", meeting_id=meeting.id, attempts=attempts, error=exc.code)
