"""The comparison report's one query: every figure summed per group inside the database.

Per group, the meetings' counts and sums, with each meeting's participants already counted on its
row (written with its attendance record): a year of a large org is a quarter of a million meetings
but millions of participant rows. Only the people with an hourly rate of their own are read row by
row, to price their time. Only integers leave the database (counts, whole seconds, and cost as
cents x seconds), so SQLite and PostgreSQL return identical figures; the use case divides them
into averages and rates.

Week and month buckets are not computed by the database (SQLite has no time zone database): the
caller passes each bucket's [start, end) in UTC, computed in the company's time zone, and a
meeting's bucket is found from its scheduled start by comparisons against those bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    String,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    not_,
    select,
    values,
)

from service.domain.meeting import Classification, MeetingKind, MeetingOrigin, MeetingStatus
from service.storage.meetings_repo import CREATING
from service.storage.tables import meetings, participant_attendance
from service.storage.types import UtcDateTime


class GroupKey(StrEnum):
    KIND = "kind"
    PROVIDER = "provider"
    ORGANIZER = "organizer"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Bucket:
    """A week or month in the company's time zone: its label and its [start, end) in UTC."""

    label: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ReportQuery:
    start: datetime  # meetings whose scheduled start is in [start, end)
    end: datetime
    group_by: tuple[GroupKey, ...]
    as_of: datetime  # a meeting whose scheduled end is at or before this has "passed"
    default_rate_cents: int  # per person-hour
    rate_cents_by_email: Mapping[str, int]
    weeks: Sequence[Bucket] = ()  # required when grouping by week
    months: Sequence[Bucket] = ()  # required when grouping by month


@dataclass(frozen=True)
class GroupSums:
    """One group's raw figures: counts and whole seconds, all additive across groups."""

    meetings_scheduled: int = 0
    meetings_cancelled: int = 0
    meetings_held: int = 0
    scheduled_seconds: int = 0
    meetings_with_span: int = 0
    actual_seconds: int = 0
    meetings_with_plan_and_span: int = 0
    overrun_seconds: int = 0
    meetings_with_plan_and_start: int = 0
    start_delay_seconds: int = 0
    participants: int = 0
    internal_participants: int = 0
    external_participants: int = 0
    invitees: int = 0
    invitees_attended: int = 0
    customer_meetings_due: int = 0
    customer_no_shows: int = 0
    host_no_shows: int = 0
    internal_seconds: int = 0
    internal_cost_cent_seconds: int = 0

    def __add__(self, other: GroupSums) -> GroupSums:
        return GroupSums(
            **{name: getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__}
        )


GroupValues = tuple[str | None, ...]  # one value per `ReportQuery.group_by` key, in that order


def _seconds_between(
    later: ColumnElement[datetime], earlier: ColumnElement[datetime], dialect: str
) -> ColumnElement[int]:
    """Whole seconds from `earlier` to `later`, computed the same way on both databases."""
    if dialect == "postgresql":
        return cast(func.round(func.extract("epoch", later - earlier)), BigInteger)
    # SQLite stores instants as ISO text; julianday() reads it (fractions of a second included).
    return cast(func.round((func.julianday(later) - func.julianday(earlier)) * 86400), BigInteger)


def _bucket_label(moment: ColumnElement[datetime], buckets: Sequence[Bucket]) -> ColumnElement[str]:
    """The label of the bucket holding `moment`: a binary search written as nested CASEs, so each
    meeting costs a handful of comparisons on either database (the buckets are contiguous and the
    period filter keeps `moment` inside them)."""
    if len(buckets) == 1:
        return literal(buckets[0].label, String)
    middle = len(buckets) // 2
    return case(
        (moment < literal(buckets[middle].start, UtcDateTime()), _bucket_label(moment, buckets[:middle])),
        else_=_bucket_label(moment, buckets[middle:]),
    )


def _group_keys(query: ReportQuery) -> list[ColumnElement[Any]]:
    m = meetings.c
    keys: list[ColumnElement[Any]] = []
    for key in query.group_by:
        if key in (GroupKey.WEEK, GroupKey.MONTH):
            buckets = query.weeks if key is GroupKey.WEEK else query.months
            if not buckets:
                raise ValueError(f"grouping by {key.value} needs its buckets")
            keys.append(_bucket_label(m.start_at, buckets))
        else:
            column_for = {
                GroupKey.KIND: m.kind,
                GroupKey.PROVIDER: m.provider,
                GroupKey.ORGANIZER: m.organizer_email,
            }
            keys.append(column_for[key])
    return keys


def _in_period(query: ReportQuery) -> ColumnElement[bool]:
    m = meetings.c
    return and_(
        m.start_at >= query.start,
        m.start_at < query.end,
        m.status.not_in([CREATING, MeetingStatus.FAILED.value]),
    )


def comparison_sums(conn: Connection, query: ReportQuery) -> dict[GroupValues, GroupSums]:
    """The raw figures of every group that has at least one meeting in the period.

    Meetings are summed with the attendance counts on their rows; the time of people with an hourly
    rate of their own is then repriced from their participant rows, found by e-mail.
    """
    keys = _group_keys(query)
    result: dict[GroupValues, GroupSums] = {}
    for group, status, figures in _meeting_sums(conn, query, keys):
        found = result.get(group, GroupSums())
        if status == MeetingStatus.CANCELLED.value:
            result[group] = replace(found, meetings_cancelled=found.meetings_cancelled + figures.meetings)
        else:
            result[group] = found + figures.group_sums(query.default_rate_cents)
    for group, extra in _cost_above_default(conn, query, keys).items():
        # On PostgreSQL each statement sees its own snapshot: a meeting added in between may show
        # in this second one only. It is then in the next report; it never breaks this one.
        found = result.get(group, GroupSums())
        result[group] = replace(found, internal_cost_cent_seconds=found.internal_cost_cent_seconds + extra)
    return result


@dataclass(frozen=True)
class _StatusSums:
    """One group's meetings of one status, summed as the database returns them. Time spans are
    summed apart for planned and unplanned meetings, so each meeting's span is computed once."""

    meetings: int
    held: int
    scheduled_minutes: int
    planned_with_span: int
    unplanned_with_span: int
    planned_actual_seconds: int
    unplanned_actual_seconds: int
    planned_scheduled_minutes_with_span: int
    planned_with_start: int
    start_delay_seconds: int
    participants: int
    internal_participants: int
    external_participants: int
    invitees: int
    invitees_attended: int
    customer_meetings_due: int
    customer_no_shows: int
    host_no_shows: int
    internal_seconds: int

    def group_sums(self, default_rate_cents: int) -> GroupSums:
        """The figures of meetings that were not cancelled."""
        return GroupSums(
            meetings_scheduled=self.meetings,
            meetings_held=self.held,
            scheduled_seconds=self.scheduled_minutes * 60,
            meetings_with_span=self.planned_with_span + self.unplanned_with_span,
            actual_seconds=self.planned_actual_seconds + self.unplanned_actual_seconds,
            meetings_with_plan_and_span=self.planned_with_span,
            overrun_seconds=self.planned_actual_seconds - self.planned_scheduled_minutes_with_span * 60,
            meetings_with_plan_and_start=self.planned_with_start,
            start_delay_seconds=self.start_delay_seconds,
            participants=self.participants,
            internal_participants=self.internal_participants,
            external_participants=self.external_participants,
            invitees=self.invitees,
            invitees_attended=self.invitees_attended,
            customer_meetings_due=self.customer_meetings_due,
            customer_no_shows=self.customer_no_shows,
            host_no_shows=self.host_no_shows,
            internal_seconds=self.internal_seconds,
            internal_cost_cent_seconds=self.internal_seconds * default_rate_cents,
        )


def _meeting_sums(
    conn: Connection, query: ReportQuery, keys: Sequence[ColumnElement[Any]]
) -> list[tuple[GroupValues, str, _StatusSums]]:
    """Per group and meeting status, the meetings' sums: one pass over `ix_meetings_report`.

    Grouping by status too keeps "not cancelled" out of every sum (the caller adds up the statuses
    and only counts the cancelled ones); this and each span computed once make the pass ~20 %
    cheaper on SQLite than conditions repeated in every sum (bench/report.py).
    """
    m = meetings.c
    dialect = conn.dialect.name
    held = m.attended_count > 0
    with_span = and_(held, m.actual_start.is_not(None), m.actual_end.is_not(None))
    planned = m.origin == MeetingOrigin.API.value
    passed = m.end_at <= query.as_of
    customer_due = and_(passed, m.kind == MeetingKind.CUSTOMER.value)
    actual = _seconds_between(m.actual_end, m.actual_start, dialect)
    with_start = and_(held, planned, m.actual_start.is_not(None))
    zero = literal(0, BigInteger)

    def total(condition: ColumnElement[bool], value: ColumnElement[int] | int = 1) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, value), else_=zero)), zero)

    sums: dict[str, ColumnElement[int]] = {
        "meetings": func.count(),
        "held": total(held),
        "scheduled_minutes": func.coalesce(func.sum(m.duration_minutes), zero),
        "planned_with_span": total(and_(with_span, planned)),
        "unplanned_with_span": total(and_(with_span, not_(planned))),
        "planned_actual_seconds": total(and_(with_span, planned), actual),
        "unplanned_actual_seconds": total(and_(with_span, not_(planned)), actual),
        "planned_scheduled_minutes_with_span": total(and_(with_span, planned), m.duration_minutes),
        "planned_with_start": total(with_start),
        "start_delay_seconds": total(with_start, _seconds_between(m.actual_start, m.start_at, dialect)),
        "participants": total(held, m.attended_count),
        "internal_participants": total(held, m.attended_internal_count),
        "external_participants": total(held, m.attended_external_count),
        "invitees": total(passed, m.invited_count),
        "invitees_attended": total(passed, m.invited_attended_count),
        "customer_meetings_due": total(customer_due),
        "customer_no_shows": total(and_(customer_due, m.attended_external_count == 0)),
        "host_no_shows": total(and_(customer_due, m.attended_internal_count == 0)),
        "internal_seconds": func.coalesce(func.sum(m.internal_attended_seconds), zero),
    }
    statement = (
        select(
            *(k.label(f"g{i}") for i, k in enumerate(keys)),
            m.status,
            *(e.label(n) for n, e in sums.items()),
        )
        .select_from(meetings)
        .where(_in_period(query))
        .group_by(*keys, m.status)
    )
    rows = []
    for row in conn.execute(statement):
        mapping = row._mapping
        group = tuple(mapping[f"g{i}"] for i in range(len(keys)))
        rows.append((group, str(mapping["status"]), _StatusSums(**{n: int(mapping[n]) for n in sums})))
    return rows


def _cost_above_default(
    conn: Connection, query: ReportQuery, keys: Sequence[ColumnElement[Any]]
) -> dict[GroupValues, int]:
    """Per group: (own rate - default) x seconds, summed over internal people with an own rate."""
    overrides = {
        email: cents - query.default_rate_cents for email, cents in query.rate_cents_by_email.items()
    }
    overrides = {email: cents for email, cents in overrides.items() if cents}
    if not overrides:
        return {}
    m, pa = meetings.c, participant_attendance.c
    rates = (
        values(column("email", String), column("cents", BigInteger), name="rates")
        .data(sorted(overrides.items()))
        .cte("rates")
    )
    # From the few people with a rate to their rows (by the e-mail index), then to their meetings.
    people = rates.join(
        participant_attendance,
        and_(pa.email == rates.c.email, pa.classification == Classification.INTERNAL.value),
    ).join(meetings, m.id == pa.meeting_id)
    statement = (
        select(
            *(k.label(f"g{i}") for i, k in enumerate(keys)),
            func.sum(cast(pa.attended_seconds, BigInteger) * rates.c.cents).label("extra"),
        )
        .select_from(people)
        .where(_in_period(query), m.status != MeetingStatus.CANCELLED.value)
        .group_by(*keys)
    )
    return {
        tuple(row._mapping[f"g{i}"] for i in range(len(keys))): int(row.extra)
        for row in conn.execute(statement)
    }
