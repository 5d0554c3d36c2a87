"""Meetings and their invitees: rows in, domain values out."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from service.domain.meeting import (
    Attendee,
    Classification,
    Completeness,
    ExternalRef,
    Meeting,
    MeetingKind,
    MeetingOrigin,
    MeetingStatus,
    Person,
    ProviderAttempt,
    ProviderName,
    Schedule,
)
from service.storage.tables import meeting_attendees, meetings

# A row holds the CRM's reference while its provider meeting is being made; never shown to callers.
CREATING = "creating"
# Column widths (tables.py); values are bounded here, so callers never need to know them.
TITLE_LENGTH = 300
EMAIL_LENGTH = 320


class ExternalRefTaken(Exception):
    """Another request already claimed this external reference."""


def _attempts_json(attempts: Sequence[ProviderAttempt]) -> list[dict[str, str]]:
    return [
        {"provider": a.provider.value, "error_code": a.error_code, "message": a.message} for a in attempts
    ]


def insert_claim(
    conn: Connection,
    *,
    meeting_id: str,
    origin: MeetingOrigin,
    title: str,
    agenda: str | None,
    kind: MeetingKind,
    kind_derived: bool,
    schedule: Schedule,
    organizer: Person,
    attendees: Sequence[Attendee],
    external_ref: ExternalRef | None,
    now: datetime,
    status: str = CREATING,
) -> None:
    """Insert the meeting row; raises ExternalRefTaken when the CRM reference already exists."""
    try:
        with conn.begin_nested():
            conn.execute(
                insert(meetings).values(
                    id=meeting_id,
                    external_system=external_ref.system if external_ref else None,
                    external_id=external_ref.id if external_ref else None,
                    origin=origin.value,
                    title=title,
                    agenda=agenda,
                    kind=kind.value,
                    kind_derived=kind_derived,
                    start_at=schedule.start,
                    end_at=schedule.end,
                    duration_minutes=schedule.duration_minutes,
                    timezone=schedule.timezone,
                    organizer_email=organizer.email,
                    organizer_name=organizer.name,
                    provider_instance="",
                    provider_extra={},
                    status=status,
                    provider_attempts=[],
                    completeness=Completeness.LIVE.value,
                    attendance_dirty=False,
                    reconcile_attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError as exc:
        raise ExternalRefTaken from exc
    replace_attendees(conn, meeting_id, attendees)


def replace_attendees(conn: Connection, meeting_id: str, attendees: Sequence[Attendee]) -> None:
    conn.execute(delete(meeting_attendees).where(meeting_attendees.c.meeting_id == meeting_id))
    if attendees:
        conn.execute(
            insert(meeting_attendees),
            [
                {
                    "meeting_id": meeting_id,
                    "email": a.email,
                    "name": a.name,
                    "required": a.required,
                    "classification": a.classification.value,
                    "registrant_id": a.registrant_id,
                    "join_url": a.join_url,
                }
                for a in attendees
            ],
        )


def record_registrations(
    conn: Connection, meeting_id: str, registrations: Mapping[str, tuple[str, str]]
) -> None:
    """Keep each attendee's registration on the provider: e-mail -> (registrant id, personal join URL)."""
    c = meeting_attendees.c
    for email, (registrant_id, join_url) in sorted(registrations.items()):
        conn.execute(
            update(meeting_attendees)
            .where(c.meeting_id == meeting_id, c.email == email)
            .values(registrant_id=registrant_id, join_url=join_url)
        )


def record_provider_result(
    conn: Connection,
    meeting_id: str,
    *,
    provider: ProviderName,
    provider_meeting_id: str,
    join_url: str,
    start_url: str | None,
    extra: Mapping[str, str],
    attempts: Sequence[ProviderAttempt],
    now: datetime,
) -> bool:
    """Record the provider's meeting on this request's claim; False if the claim was taken over."""
    c = meetings.c
    claim = conn.execute(
        select(c.id).where(c.id == meeting_id, c.status == CREATING).with_for_update()
    ).first()
    if claim is None:
        return False
    # Webhooks that beat this record made a meeting of their own instance; it was this one.
    conn.execute(
        delete(meetings).where(
            c.provider == provider.value,
            c.provider_meeting_id == provider_meeting_id,
            c.origin == MeetingOrigin.PROVIDER.value,
        )
    )
    conn.execute(
        update(meetings)
        .where(c.id == meeting_id)
        .values(
            provider=provider.value,
            provider_meeting_id=provider_meeting_id,
            join_url=join_url,
            start_url=start_url,
            provider_extra=dict(extra),
            provider_attempts=_attempts_json(attempts),
            status=MeetingStatus.SCHEDULED.value,
            attendance_dirty=True,
            change_owner=None,  # a resumed claim's lease ends with it
            change_until=None,
            updated_at=now,
        )
    )
    return True


def delete_meeting_row(conn: Connection, meeting_id: str) -> None:
    conn.execute(delete(meetings).where(meetings.c.id == meeting_id))


@dataclass(frozen=True)
class Claim:
    """The row holding a CRM reference. `unknown_on` names the provider a create was sent to
    without an answer (the meeting may exist there); None for a claim whose outcome is known."""

    meeting_id: str
    status: str
    claimed_at: datetime
    unknown_on: ProviderName | None


def claim_status(conn: Connection, ref: ExternalRef) -> Claim | None:
    """The row holding the CRM reference, if any."""
    c = meetings.c
    row = conn.execute(
        select(c.id, c.status, c.created_at, c.provider).where(
            c.external_system == ref.system, c.external_id == ref.id
        )
    ).first()
    if row is None:
        return None
    unknown_on = ProviderName(row.provider) if row.status == CREATING and row.provider else None
    return Claim(row.id, row.status, row.created_at, unknown_on)


def delete_stale_claim(conn: Connection, meeting_id: str, *, claimed_before: datetime) -> bool:
    """Remove a claim whose request died before calling its provider or hearing back; False if it
    moved on. A claim whose create got no answer is never dropped: it is resumed (`resume_claim`)."""
    c = meetings.c
    result = conn.execute(
        delete(meetings).where(
            c.id == meeting_id, c.status == CREATING, c.created_at <= claimed_before, c.provider.is_(None)
        )
    )
    return bool(result.rowcount == 1)


def mark_outcome_unknown(conn: Connection, meeting_id: str, provider: ProviderName, now: datetime) -> None:
    """Keep the claim: its create was sent to `provider` and got no answer. Releases its lease."""
    c = meetings.c
    conn.execute(
        update(meetings)
        .where(c.id == meeting_id, c.status == CREATING)
        .values(provider=provider.value, change_owner=None, change_until=None, updated_at=now)
    )


def resume_claim(conn: Connection, meeting_id: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take over a claim whose create got no answer, to settle it; False if another request is on it."""
    c = meetings.c
    result = conn.execute(
        update(meetings)
        .where(
            c.id == meeting_id,
            c.status == CREATING,
            c.provider.is_not(None),
            or_(c.change_until.is_(None), c.change_until < now),
        )
        .values(change_owner=owner, change_until=now + ttl, updated_at=now)
    )
    return bool(result.rowcount == 1)


def take_change_lease(conn: Connection, meeting_id: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Claim the right to change the meeting on its provider until `now + ttl`; False if another
    request (on any replica) holds an unexpired claim."""
    c = meetings.c
    result = conn.execute(
        update(meetings)
        .where(
            c.id == meeting_id, or_(c.change_until.is_(None), c.change_until < now, c.change_owner == owner)
        )
        .values(change_owner=owner, change_until=now + ttl)
    )
    return bool(result.rowcount == 1)


def apply_schedule(
    conn: Connection,
    meeting_id: str,
    owner: str,
    updated: Meeting,
    *,
    join_url: str | None,
    start_url: str | None,
    now: datetime,
) -> bool:
    """Record a change made on the provider (title, kind, schedule, links), only while `owner` still
    holds the lease and the meeting is still scheduled; False otherwise (the lease ran out, or the
    meeting started meanwhile)."""
    return _while_leased(
        conn,
        meeting_id,
        owner,
        title=updated.title[:TITLE_LENGTH],
        agenda=updated.agenda,
        kind=updated.kind.value,
        kind_derived=updated.kind_derived,
        start_at=updated.schedule.start,
        end_at=updated.schedule.end,
        duration_minutes=updated.schedule.duration_minutes,
        timezone=updated.schedule.timezone,
        join_url=join_url,
        start_url=start_url,
        attendance_dirty=True,
        updated_at=now,
    )


def apply_cancellation(conn: Connection, meeting_id: str, owner: str, now: datetime) -> bool:
    """Record a cancellation done on the provider, under the same conditions as `apply_schedule`."""
    return _while_leased(conn, meeting_id, owner, status=MeetingStatus.CANCELLED.value, updated_at=now)


def _while_leased(conn: Connection, meeting_id: str, owner: str, **values: Any) -> bool:
    c = meetings.c
    result = conn.execute(
        update(meetings)
        .where(c.id == meeting_id, c.change_owner == owner, c.status == MeetingStatus.SCHEDULED.value)
        .values(**values)
    )
    return bool(result.rowcount == 1)


def release_change_lease(conn: Connection, meeting_id: str, owner: str) -> None:
    c = meetings.c
    conn.execute(
        update(meetings)
        .where(c.id == meeting_id, c.change_owner == owner)
        .values(change_owner=None, change_until=None)
    )


def lock_meeting(conn: Connection, meeting_id: str) -> bool:
    """Serialise writers of one meeting (row lock on PostgreSQL; SQLite already has one writer)."""
    row = conn.execute(select(meetings.c.id).where(meetings.c.id == meeting_id).with_for_update()).first()
    return row is not None


def get_meeting(conn: Connection, meeting_id: str) -> Meeting | None:
    row = conn.execute(
        select(meetings).where(meetings.c.id == meeting_id, meetings.c.status != CREATING)
    ).first()
    if row is None:
        return None
    return _to_meeting(row._mapping, _load_attendees(conn, [meeting_id]).get(meeting_id, ()))


def find_by_provider_meeting(
    conn: Connection, provider: ProviderName, provider_meeting_id: str, instance: str = ""
) -> str | None:
    """The meeting holding a provider meeting id: the one scheduled here (instance ""), or the
    meeting seen only in events for that one instance."""
    c = meetings.c
    return conn.execute(
        select(c.id).where(
            c.provider == provider.value,
            c.provider_meeting_id == provider_meeting_id,
            c.provider_instance == instance,
        )
    ).scalar()


@dataclass(frozen=True)
class MeetingFilter:
    external_system: str | None = None
    external_id: str | None = None
    kind: MeetingKind | None = None
    provider: ProviderName | None = None
    organizer: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    status: MeetingStatus | None = None


def encode_cursor(start_at: datetime, meeting_id: str) -> str:
    raw = json.dumps([start_at.isoformat(), meeting_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError on anything that is not a cursor this service made."""
    padded = cursor + "=" * (-len(cursor) % 4)
    start_text, meeting_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    start_at = datetime.fromisoformat(start_text)
    if start_at.tzinfo is None or not isinstance(meeting_id, str):
        raise ValueError("bad cursor")
    return start_at, meeting_id


def list_meetings(
    conn: Connection, flt: MeetingFilter, *, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[Meeting], tuple[datetime, str] | None]:
    """Keyset pagination ordered by (start, id): stable while meetings are added."""
    c = meetings.c
    conditions: list[Any] = [c.status != CREATING]
    if flt.external_system is not None:
        conditions.append(c.external_system == flt.external_system)
    if flt.external_id is not None:
        conditions.append(c.external_id == flt.external_id)
    if flt.kind is not None:
        conditions.append(c.kind == flt.kind.value)
    if flt.provider is not None:
        conditions.append(c.provider == flt.provider.value)
    if flt.organizer is not None:
        conditions.append(c.organizer_email == flt.organizer.strip().lower())
    if flt.start_from is not None:
        conditions.append(c.start_at >= flt.start_from)
    if flt.start_to is not None:
        conditions.append(c.start_at < flt.start_to)
    if flt.status is not None:
        conditions.append(c.status == flt.status.value)
    if after is not None:
        conditions.append(or_(c.start_at > after[0], and_(c.start_at == after[0], c.id > after[1])))
    rows = conn.execute(select(meetings).where(*conditions).order_by(c.start_at, c.id).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    attendees = _load_attendees(conn, [r.id for r in page])
    items = [_to_meeting(r._mapping, attendees.get(r.id, ())) for r in page]
    next_key = (page[-1].start_at, page[-1].id) if more and page else None
    return items, next_key


def _load_attendees(conn: Connection, meeting_ids: Sequence[str]) -> dict[str, tuple[Attendee, ...]]:
    if not meeting_ids:
        return {}
    found: dict[str, list[Attendee]] = {}
    rows = conn.execute(
        select(meeting_attendees)
        .where(meeting_attendees.c.meeting_id.in_(meeting_ids))
        .order_by(meeting_attendees.c.meeting_id, meeting_attendees.c.email)
    )
    for r in rows:
        found.setdefault(r.meeting_id, []).append(
            Attendee(
                r.email,
                r.name,
                r.required,
                Classification(r.classification),
                registrant_id=r.registrant_id,
                join_url=r.join_url,
            )
        )
    return {k: tuple(v) for k, v in found.items()}


def _to_meeting(row: RowMapping, attendees: tuple[Attendee, ...]) -> Meeting:
    ref = (
        ExternalRef(row["external_system"], row["external_id"])
        if row["external_system"] is not None and row["external_id"] is not None
        else None
    )
    return Meeting(
        id=row["id"],
        origin=MeetingOrigin(row["origin"]),
        title=row["title"],
        agenda=row["agenda"],
        kind=MeetingKind(row["kind"]),
        kind_derived=row["kind_derived"],
        schedule=Schedule(row["start_at"], row["duration_minutes"], row["timezone"]),
        organizer=Person(row["organizer_email"], row["organizer_name"]),
        attendees=attendees,
        external_ref=ref,
        provider=ProviderName(row["provider"]) if row["provider"] else None,
        provider_meeting_id=row["provider_meeting_id"],
        provider_instance=row["provider_instance"] or None,
        provider_extra=dict(row["provider_extra"] or {}),
        join_url=row["join_url"],
        start_url=row["start_url"],
        status=MeetingStatus(row["status"]),
        attempts=tuple(
            ProviderAttempt(ProviderName(a["provider"]), a["error_code"], a["message"])
            for a in row["provider_attempts"] or []
        ),
        actual_start=row["actual_start"],
        actual_end=row["actual_end"],
        completeness=Completeness(row["completeness"]),
        completeness_reason=row["completeness_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def insert_discovered(
    conn: Connection,
    *,
    meeting_id: str,
    provider: ProviderName,
    provider_meeting_id: str,
    instance: str,
    title: str,
    organizer_email: str,
    start: datetime,
    timezone: str,
    now: datetime,
) -> str:
    """Record one instance of a meeting first seen in a provider's events (created on the provider
    directly: a personal room, a recurring meeting), each instance its own meeting.

    Returns the id of the meeting that holds (provider, provider_meeting_id, instance): this one, or
    the one a concurrent worker inserted first.
    """
    try:
        with conn.begin_nested():
            conn.execute(
                insert(meetings).values(
                    id=meeting_id,
                    origin=MeetingOrigin.PROVIDER.value,
                    title=title[:TITLE_LENGTH],
                    kind=MeetingKind.INTERNAL.value,
                    kind_derived=True,
                    start_at=start,
                    end_at=start,
                    duration_minutes=1,
                    timezone=timezone,
                    organizer_email=organizer_email,
                    provider=provider.value,
                    provider_meeting_id=provider_meeting_id,
                    provider_instance=instance,
                    provider_extra={},
                    status=MeetingStatus.SCHEDULED.value,
                    provider_attempts=[],
                    completeness=Completeness.LIVE.value,
                    attendance_dirty=True,
                    reconcile_attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        return meeting_id
    except IntegrityError:
        existing = find_by_provider_meeting(conn, provider, provider_meeting_id, instance)
        if existing is None:
            raise
        return existing


def mark_discovered_dirty(
    conn: Connection, provider: ProviderName, provider_meeting_id: str, now: datetime
) -> None:
    c = meetings.c
    conn.execute(
        update(meetings)
        .where(
            c.provider == provider.value,
            c.provider_meeting_id == provider_meeting_id,
            c.origin == MeetingOrigin.PROVIDER.value,
            c.attendance_dirty.is_(False),
        )
        .values(attendance_dirty=True, updated_at=now)
    )


def mark_dirty(conn: Connection, meeting_id: str, now: datetime) -> None:
    conn.execute(
        update(meetings).where(meetings.c.id == meeting_id).values(attendance_dirty=True, updated_at=now)
    )


def dirty_meeting_ids(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Meetings to refresh: dirty, and not waiting to retry a failed refresh."""
    c = meetings.c
    due = or_(c.refresh_after.is_(None), c.refresh_after <= now)
    return list(
        conn.execute(
            select(c.id).where(c.attendance_dirty.is_(True), due).order_by(c.updated_at, c.id).limit(limit)
        ).scalars()
    )


@dataclass(frozen=True)
class ReconcileState:
    """Where a meeting stands with its provider's post-meeting report."""

    reported_start: datetime | None
    reported_end: datetime | None
    reconcile_after: datetime | None
    reconcile_attempts: int
    attendance_dirty: bool


def reconcile_state(conn: Connection, meeting_id: str) -> ReconcileState | None:
    c = meetings.c
    row = conn.execute(
        select(
            c.reported_start, c.reported_end, c.reconcile_after, c.reconcile_attempts, c.attendance_dirty
        ).where(c.id == meeting_id)
    ).first()
    if row is None:
        return None
    return ReconcileState(
        row.reported_start,
        row.reported_end,
        row.reconcile_after,
        row.reconcile_attempts,
        row.attendance_dirty,
    )


def mark_reconciled(
    conn: Connection,
    meeting_id: str,
    *,
    reported_start: datetime | None,
    reported_end: datetime | None,
    reason: str | None = None,
) -> None:
    """The provider's report is now the record's source of sessions (`reason` says why, when the
    meeting was completed without one)."""
    _update(
        conn,
        meeting_id,
        reported_start=reported_start,
        reported_end=reported_end,
        completeness=Completeness.RECONCILED.value,
        completeness_reason=None if reason is None else reason[:2000],
        reconcile_after=None,
    )


def set_completeness_reason(conn: Connection, meeting_id: str, reason: str) -> None:
    _update(conn, meeting_id, completeness_reason=reason[:2000])


def record_reconcile_failure(
    conn: Connection, meeting_id: str, *, attempts: int, retry_at: datetime | None, reason: str
) -> None:
    """A report that could not be had: try again at `retry_at`, or, when None, give up and mark the
    meeting `partial` with the reason (its record is then recomputed without the report)."""
    if retry_at is not None:
        _update(conn, meeting_id, reconcile_attempts=attempts, reconcile_after=retry_at)
        return
    _update(
        conn,
        meeting_id,
        reconcile_attempts=attempts,
        completeness=Completeness.PARTIAL.value,
        completeness_reason=reason[:2000],
        reconcile_after=None,
        attendance_dirty=True,
    )


def reopen(conn: Connection, meeting_id: str) -> None:
    """A reconciled meeting that started again: live until it is reconciled once more."""
    _update(
        conn, meeting_id, completeness=Completeness.LIVE.value, completeness_reason=None, reconcile_after=None
    )


def clear_dirty(conn: Connection, meeting_id: str) -> None:
    _update(conn, meeting_id, attendance_dirty=False)


def postpone_refresh(
    conn: Connection, meeting_id: str, now: datetime, retry_delay: Callable[[int], timedelta]
) -> tuple[int, datetime]:
    """Count a failed refresh and hold the meeting back for `retry_delay(failures)`, behind the
    others (it stays dirty); returns the failures so far and when it is tried next."""
    c = meetings.c
    previous = conn.execute(select(c.refresh_failures).where(c.id == meeting_id)).scalar()
    failures = (previous or 0) + 1
    retry_at = now + retry_delay(failures)
    _update(conn, meeting_id, refresh_failures=failures, refresh_after=retry_at, updated_at=now)
    return failures, retry_at


class Unchanged(Enum):
    """A value left as it is (where None would mean "clear it")."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class DiscoveredShape:
    """What a meeting seen only in events takes from them (None: not known yet, left as it is)."""

    title: str | None = None
    organizer_email: str | None = None
    kind: MeetingKind | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    duration_minutes: int | None = None


def store_refresh(
    conn: Connection,
    meeting_id: str,
    *,
    actual_start: datetime | None,
    actual_end: datetime | None,
    status: MeetingStatus | None,
    reconcile_after: datetime | Unchanged | None = UNCHANGED,
    discovered: DiscoveredShape | None = None,
    now: datetime,
) -> None:
    """A recomputed record's meeting-level facts: its span, status, when to reconcile it, and for a
    meeting seen only in events, its shape. The meeting is no longer dirty."""
    values: dict[str, Any] = {
        "actual_start": actual_start,
        "actual_end": actual_end,
        "attendance_dirty": False,
        "refresh_failures": 0,
        "refresh_after": None,
        "updated_at": now,
    }
    if status is not None:
        values["status"] = status.value
    if not isinstance(reconcile_after, Unchanged):
        values["reconcile_after"] = reconcile_after
    if discovered is not None:
        shape = {
            "title": discovered.title[:TITLE_LENGTH] if discovered.title else None,
            "organizer_email": discovered.organizer_email.strip().lower()[:EMAIL_LENGTH]
            if discovered.organizer_email
            else None,
            "kind": discovered.kind.value if discovered.kind else None,
            "start_at": discovered.start_at,
            "end_at": discovered.end_at,
            "duration_minutes": discovered.duration_minutes,
        }
        values.update({key: value for key, value in shape.items() if value is not None})
    _update(conn, meeting_id, **values)


def _update(conn: Connection, meeting_id: str, **values: Any) -> None:
    conn.execute(update(meetings).where(meetings.c.id == meeting_id).values(**values))


def due_for_reconciliation(conn: Connection, now: datetime, limit: int) -> list[Meeting]:
    c = meetings.c
    ids = list(
        conn.execute(
            select(c.id)
            .where(
                c.reconcile_after <= now,
                c.completeness == Completeness.LIVE.value,
                c.status != MeetingStatus.CANCELLED.value,
                c.provider.is_not(None),
            )
            .order_by(c.reconcile_after)
            .limit(limit)
        ).scalars()
    )
    found = [get_meeting(conn, meeting_id) for meeting_id in ids]
    return [m for m in found if m is not None]


def schedule_reconciliation_for_unannounced_ends(
    conn: Connection, *, ended_before: datetime, now: datetime
) -> int:
    """Meetings whose planned end is long past but whose end the provider never announced."""
    c = meetings.c
    result = conn.execute(
        update(meetings)
        .where(
            c.reconcile_after.is_(None),
            c.end_at < ended_before,
            c.completeness == Completeness.LIVE.value,
            c.status.in_([MeetingStatus.SCHEDULED.value, MeetingStatus.STARTED.value]),
            c.provider.is_not(None),
            c.provider_meeting_id.is_not(None),
        )
        .values(reconcile_after=now)
    )
    return int(result.rowcount)
