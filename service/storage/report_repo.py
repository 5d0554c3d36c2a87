"""The comparison report's one query: every figure summed per group inside the database.

Two levels, both SQL: per meeting, its participants' counts and seconds (`participant_attendance`);
then per group, the meetings' counts and sums. Only integers leave the database (counts, whole
seconds, and cost as cents x seconds), so SQLite and PostgreSQL return identical figures; the use
case divides them into averages and rates.

Week and month buckets are not computed by the database (SQLite has no time zone database): the
caller passes each bucket's [start, end) in UTC, computed in the company's time zone, as a VALUES
table that meetings are joined to by their scheduled start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    FromClause,
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


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _seconds_between(
    later: ColumnElement[datetime], earlier: ColumnElement[datetime], dialect: str
) -> ColumnElement[int]:
    """Whole seconds from `earlier` to `later`, computed the same way on both databases."""
    if dialect == "postgresql":
        return cast(func.round(func.extract("epoch", later - earlier)), BigInteger)
    # SQLite stores instants as ISO text; julianday() reads it (fractions of a second included).
    return cast(func.round((func.julianday(later) - func.julianday(earlier)) * 86400), BigInteger)


def _buckets_table(name: str, buckets: Sequence[Bucket]) -> FromClause:
    if not buckets:
        raise ValueError(f"grouping by {name} needs its buckets")
    table = values(
        column("label", String), column("start_at", UtcDateTime()), column("end_at", UtcDateTime()), name=name
    ).data([(b.label, b.start, b.end) for b in buckets])
    return table.cte(name)


def _rate_cents(query: ReportQuery) -> tuple[ColumnElement[int], FromClause | None]:
    """Each participant's hourly rate in cents: the override for their e-mail, else the default."""
    default = literal(query.default_rate_cents, BigInteger)
    if not query.rate_cents_by_email:
        return default, None
    rates = (
        values(column("email", String), column("cents", BigInteger), name="rates")
        .data(sorted(query.rate_cents_by_email.items()))
        .cte("rates")
    )
    return func.coalesce(rates.c.cents, default), rates


def comparison_sums(conn: Connection, query: ReportQuery) -> dict[GroupValues, GroupSums]:
    """The raw figures of every group that has at least one meeting in the period."""
    m, pa = meetings.c, participant_attendance.c
    dialect = conn.dialect.name
    in_period = and_(
        m.start_at >= query.start,
        m.start_at < query.end,
        m.status.not_in([CREATING, MeetingStatus.FAILED.value]),
    )

    rate, rates = _rate_cents(query)
    internal = pa.classification == Classification.INTERNAL.value
    people_from: FromClause = meetings.join(participant_attendance, pa.meeting_id == m.id)
    if rates is not None:
        people_from = people_from.outerjoin(rates, rates.c.email == pa.email)
    people = (
        select(
            m.id.label("meeting_id"),
            func.sum(_flag(pa.attended)).label("attended"),
            func.sum(_flag(and_(pa.attended, internal))).label("attended_internal"),
            func.sum(_flag(and_(pa.attended, pa.classification == Classification.EXTERNAL.value))).label(
                "attended_external"
            ),
            func.sum(_flag(pa.invited)).label("invited"),
            func.sum(_flag(and_(pa.invited, pa.attended))).label("invited_attended"),
            func.sum(case((internal, pa.attended_seconds), else_=0)).label("internal_seconds"),
            func.sum(case((internal, cast(pa.attended_seconds, BigInteger) * rate), else_=0)).label(
                "internal_cost"
            ),
        )
        .select_from(people_from)
        .where(in_period)
        .group_by(m.id)
        .subquery("people")
    )
    p = people.c

    live = m.status != MeetingStatus.CANCELLED.value
    held = and_(live, func.coalesce(p.attended, 0) > 0)
    with_span = and_(held, m.actual_start.is_not(None), m.actual_end.is_not(None))
    planned = m.origin == MeetingOrigin.API.value
    passed = and_(live, m.end_at <= query.as_of)
    customer_due = and_(passed, m.kind == MeetingKind.CUSTOMER.value)
    actual = _seconds_between(m.actual_end, m.actual_start, dialect)
    zero = literal(0, BigInteger)

    sources: FromClause = meetings.outerjoin(people, p.meeting_id == m.id)
    keys: list[ColumnElement[str | None]] = []
    for key in query.group_by:
        if key in (GroupKey.WEEK, GroupKey.MONTH):
            table = _buckets_table(key.value, query.weeks if key is GroupKey.WEEK else query.months)
            sources = sources.join(table, and_(m.start_at >= table.c.start_at, m.start_at < table.c.end_at))
            keys.append(table.c.label)
        else:
            keys.append(
                {GroupKey.KIND: m.kind, GroupKey.PROVIDER: m.provider, GroupKey.ORGANIZER: m.organizer_email}[
                    key
                ]
            )
    labelled = [k.label(f"g{i}") for i, k in enumerate(keys)]

    def total(condition: ColumnElement[bool], value: ColumnElement[int] | int = 1) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, value), else_=zero)), zero)

    sums = {
        "meetings_scheduled": total(live),
        "meetings_cancelled": total(not_(live)),
        "meetings_held": total(held),
        "scheduled_seconds": total(live, m.duration_minutes * 60),
        "meetings_with_span": total(with_span),
        "actual_seconds": total(with_span, actual),
        "meetings_with_plan_and_span": total(and_(with_span, planned)),
        "overrun_seconds": total(and_(with_span, planned), actual - m.duration_minutes * 60),
        "meetings_with_plan_and_start": total(and_(held, planned, m.actual_start.is_not(None))),
        "start_delay_seconds": total(
            and_(held, planned, m.actual_start.is_not(None)),
            _seconds_between(m.actual_start, m.start_at, dialect),
        ),
        "participants": total(held, func.coalesce(p.attended, 0)),
        "internal_participants": total(held, func.coalesce(p.attended_internal, 0)),
        "external_participants": total(held, func.coalesce(p.attended_external, 0)),
        "invitees": total(passed, func.coalesce(p.invited, 0)),
        "invitees_attended": total(passed, func.coalesce(p.invited_attended, 0)),
        "customer_meetings_due": total(customer_due),
        "customer_no_shows": total(and_(customer_due, func.coalesce(p.attended_external, 0) == 0)),
        "host_no_shows": total(and_(customer_due, func.coalesce(p.attended_internal, 0) == 0)),
        "internal_seconds": total(live, func.coalesce(p.internal_seconds, 0)),
        "internal_cost_cent_seconds": total(live, func.coalesce(p.internal_cost, 0)),
    }
    statement = (
        select(*labelled, *(expr.label(name) for name, expr in sums.items()))
        .select_from(sources)
        .where(in_period)
        .group_by(*keys)
    )
    result: dict[GroupValues, GroupSums] = {}
    for row in conn.execute(statement):
        mapping = row._mapping
        group = tuple(mapping[f"g{i}"] for i in range(len(keys)))
        result[group] = GroupSums(**{name: int(mapping[name]) for name in sums})
    return result
