"""Write-back: a meeting's measured outcome goes back onto the CRM record it came from.

A meeting whose `external_ref.system` names an enabled CRM is queued (`crm_outbox`) once it is
reconciled (or its report was given up on) and when it is cancelled, and again whenever it changes
after a write. The worker writes each queued item outside every transaction:

- idempotent: the CRM's id of the written object is kept per meeting, so a retry updates it; a
  write whose id was never recorded (a crash) is found again by the plugin (by `meeting_url`);
- backoff: doubling from 2 s up to `write_back_max_backoff_seconds`, unless the CRM said how long
  to wait (`CrmRateLimited.retry_after_seconds`: 429 `Retry-After`, HubSpot's `policyName`...);
- an item still failing after `write_back_max_attempts` tries, or refused outright, is parked;
  `salesmeet outbox replay` queues it again. The payload is built from the meeting as it is at
  each try, so a replay never writes stale figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from integrations.crm.base import (
    AttendeeOutcome,
    CrmError,
    CrmRateLimited,
    CrmWriter,
    MeetingOutcome,
    Outcome,
)
from service.domain.meeting import Classification, Meeting, MeetingKind, MeetingStatus
from service.storage import attendance_repo, crm_repo, meetings_repo
from service.storage.database import Database

log = structlog.get_logger("salesmeet.crm.outbox")


@dataclass(frozen=True)
class CrmOutbound:
    """One enabled CRM's write-back side."""

    name: str
    writer: CrmWriter
    max_attempts: int
    max_backoff: timedelta


def measured_outcome(
    meeting: Meeting, participants: list[dict[str, object]], context: Mapping[str, object], meeting_url: str
) -> MeetingOutcome:
    people = tuple(
        AttendeeOutcome(
            email=p["email"] if isinstance(p["email"], str) else None,
            name=p["name"] if isinstance(p["name"], str) else None,
            internal=p["classification"] == Classification.INTERNAL,
            attended_seconds=int(p["attended_seconds"]),  # type: ignore[call-overload]
            attended=bool(p["attended"]),
        )
        for p in participants
    )
    customer_no_show = meeting.kind is MeetingKind.CUSTOMER and not any(
        p.attended and not p.internal for p in people
    )
    host_no_show = not any(p.attended and p.internal for p in people)
    if meeting.status is MeetingStatus.CANCELLED:
        outcome = Outcome.CANCELLED
    elif customer_no_show:
        outcome = Outcome.CUSTOMER_NO_SHOW
    elif host_no_show:
        outcome = Outcome.HOST_NO_SHOW
    else:
        outcome = Outcome.COMPLETED
    cancelled = outcome is Outcome.CANCELLED
    return MeetingOutcome(
        meeting_id=meeting.id,
        object_id=meeting.external_ref.id if meeting.external_ref else "",
        title=meeting.title,
        outcome=outcome,
        scheduled_start=meeting.schedule.start,
        scheduled_end=meeting.schedule.end,
        actual_start=meeting.actual_start,
        actual_end=meeting.actual_end,
        join_url=meeting.join_url,
        meeting_url=meeting_url,
        participants=people,
        customer_no_show=customer_no_show and not cancelled,
        host_no_show=host_no_show and not cancelled,
        context=context,
    )


class Outbox:
    def __init__(
        self,
        db: Database,
        crms: Mapping[str, CrmOutbound],
        meeting_url: Callable[[str], str],
        clock: Callable[[], datetime],
        *,
        batch_size: int = 50,
    ) -> None:
        self._db = db
        self._crms = dict(crms)
        self._meeting_url = meeting_url
        self._clock = clock
        self._batch_size = batch_size

    @property
    def crm_names(self) -> tuple[str, ...]:
        return tuple(self._crms)

    def enqueue_settled(self) -> int:
        now = self._clock()
        with self._db.write() as conn:
            return sum(crm_repo.enqueue_settled_meetings(conn, name, now) for name in self._crms)

    def run_once(self) -> int:
        """Queue what settled, then write a batch of due items; returns how many were tried."""
        if not self._crms:
            return 0
        self.enqueue_settled()
        now = self._clock()
        with self._db.write() as conn:
            items = crm_repo.claim_outbox(conn, self.crm_names, now, self._batch_size)
        for item in items:
            self._write(item)
        return len(items)

    def _write(self, item: crm_repo.OutboxItem) -> None:
        crm = self._crms[item.crm]
        with self._db.read() as conn:
            meeting = meetings_repo.get_meeting(conn, item.meeting_id)
            participants = attendance_repo.load_participants(conn, item.meeting_id)
            object_id = meeting.external_ref.id if meeting and meeting.external_ref else ""
            context = crm_repo.contexts_for(conn, item.crm, [object_id]).get(object_id, {})
        if meeting is None:
            return  # deleted with its outbox row (ON DELETE CASCADE)
        outcome = measured_outcome(meeting, participants, context, self._meeting_url(meeting.id))
        try:
            remote_id = crm.writer.write_outcome(outcome, item.remote_id)
        except CrmError as exc:
            self._failed(item, crm, exc)
            return
        with self._db.write() as conn:
            crm_repo.outbox_written(
                conn, item.id, remote_id=remote_id, outcome=outcome.outcome.value, now=self._clock()
            )
        log.info("crm.written_back", crm=item.crm, meeting_id=item.meeting_id, outcome=outcome.outcome.value)

    def _failed(self, item: crm_repo.OutboxItem, crm: CrmOutbound, exc: CrmError) -> None:
        now = self._clock()
        attempts = item.attempts + 1
        retry_at: datetime | None = None
        if exc.retryable and attempts < crm.max_attempts:
            delay = min(timedelta(seconds=2**attempts), crm.max_backoff)
            if isinstance(exc, CrmRateLimited) and exc.retry_after_seconds is not None:
                delay = timedelta(seconds=exc.retry_after_seconds)  # the CRM's word wins
            retry_at = now + delay
        with self._db.write() as conn:
            crm_repo.outbox_retry(
                conn,
                item.id,
                attempts=attempts,
                retry_at=retry_at,
                error=f"{exc.code}: {exc.message}",
                now=now,
            )
        log.warning(
            "crm.write_back_failed",
            crm=item.crm,
            meeting_id=item.meeting_id,
            error=exc.code,
            parked=retry_at is None,
        )
