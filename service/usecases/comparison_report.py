"""The comparison report: internal vs customer meetings (and any other split) over a period.

Which meetings count, and the denominator of every figure (SPEC "Comparison report"; the README's
"Comparison report" section says the same for users):

- The period is `[from, to)` on the meeting's **scheduled** start. A meeting being created (no
  provider meeting yet) or `failed` is in no figure: it never existed on a provider.
- `meetings_scheduled`: meetings in the period that are not cancelled (scheduled, started, ended;
  meetings first seen in provider events included). `meetings_cancelled`: the cancelled ones, which
  count in no other figure. `scheduled_minutes`: the planned durations of `meetings_scheduled`.
- `meetings_held`: scheduled meetings where at least one participant *attended*
  (`attended_seconds >= company.min_attendance_seconds`, as in the attendance record).
- `actual_minutes`: the actual spans (actual end - actual start) of held meetings whose start and end
  are both known (a held meeting still running has no end yet); `avg_actual_minutes` divides by the
  number of those meetings.
- `avg_overrun_minutes` (actual - planned duration) and `avg_start_delay_minutes` (actual start -
  scheduled start; negative for an early start): over held meetings scheduled through the API that
  have an actual span (overrun) or an actual start (delay). A meeting first seen in provider events
  had no plan; its "schedule" is what happened, so comparing the two would only add zeros.
- `avg_participants`, `avg_internal_participants`, `avg_external_participants`: participants who
  attended, per held meeting. Unidentified participants (dial-ins, anonymous guests) count in
  `avg_participants` only.
- Meetings whose time has **passed**: scheduled meetings whose scheduled end is at or before the
  report's `as_of` (now).
- `invitee_attendance_rate`: over passed meetings, the attendance records' invited participants who
  attended / invited participants. The record lists every invitee, the organizer too (they are
  invited to their own meeting). A meeting with no attendance record yet adds no invitees.
- `customer_no_show_rate`: passed customer meetings where no external participant attended / passed
  customer meetings. `host_no_show_rate`: the same with no internal participant attended. A passed
  meeting with no attendance data at all is a no-show on both sides: nobody is known to have come.
  In a group without customer meetings both rates are null.
- `internal_person_hours`: the attended time of every internal participant of scheduled meetings
  (below the attendance threshold too: that time was spent). `internal_cost`: each internal
  participant's time x their hourly cost (the per-person override, else the default), in
  `currency`.
- Weeks (ISO, Monday to Monday, labelled `2026-W05`) and months (`2026-02`) are calendar periods
  in `company.timezone`: a meeting at 23:30 UTC on 31 January is in February in Europe/Berlin.
- An average or rate with nothing to divide by is null. Minutes, hours and money are rounded to
  two decimals, rates to four; the database returns whole seconds and counts only, so SQLite and
  PostgreSQL give identical reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from service.domain.meeting import parse_timezone
from service.errors import InvalidInput
from service.storage import report_repo
from service.storage.database import Database
from service.storage.report_repo import Bucket, GroupKey, GroupSums, ReportQuery

MAX_RANGE = timedelta(days=3 * 366)
DEFAULT_GROUP_BY = (GroupKey.KIND,)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ReportRequest:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    group_by: tuple[GroupKey, ...]


@dataclass(frozen=True)
class CostRates:
    """The configured hourly cost of an internal person: per-person overrides, else the default."""

    default: float
    currency: str
    overrides: Mapping[str, float]


@dataclass(frozen=True)
class GroupMetrics:
    meetings_scheduled: int
    meetings_held: int
    meetings_cancelled: int
    scheduled_minutes: float
    actual_minutes: float
    avg_actual_minutes: float | None
    avg_overrun_minutes: float | None
    avg_start_delay_minutes: float | None
    avg_participants: float | None
    avg_internal_participants: float | None
    avg_external_participants: float | None
    invitee_attendance_rate: float | None
    customer_no_show_rate: float | None
    host_no_show_rate: float | None
    internal_person_hours: float
    internal_cost: float

    @classmethod
    def of(cls, s: GroupSums) -> GroupMetrics:
        return cls(
            meetings_scheduled=s.meetings_scheduled,
            meetings_held=s.meetings_held,
            meetings_cancelled=s.meetings_cancelled,
            scheduled_minutes=round(s.scheduled_seconds / 60, 2),
            actual_minutes=round(s.actual_seconds / 60, 2),
            avg_actual_minutes=_ratio(s.actual_seconds / 60, s.meetings_with_span, 2),
            avg_overrun_minutes=_ratio(s.overrun_seconds / 60, s.meetings_with_plan_and_span, 2),
            avg_start_delay_minutes=_ratio(s.start_delay_seconds / 60, s.meetings_with_plan_and_start, 2),
            avg_participants=_ratio(s.participants, s.meetings_held, 2),
            avg_internal_participants=_ratio(s.internal_participants, s.meetings_held, 2),
            avg_external_participants=_ratio(s.external_participants, s.meetings_held, 2),
            invitee_attendance_rate=_ratio(s.invitees_attended, s.invitees, 4),
            customer_no_show_rate=_ratio(s.customer_no_shows, s.customer_meetings_due, 4),
            host_no_show_rate=_ratio(s.host_no_shows, s.customer_meetings_due, 4),
            internal_person_hours=round(s.internal_seconds / 3600, 2),
            # cents x seconds -> money: / 100 / 3600
            internal_cost=round(s.internal_cost_cent_seconds / 360_000, 2),
        )


METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(GroupMetrics))


@dataclass(frozen=True)
class GroupReport:
    group: dict[str, str | None]  # group_by key -> this group's value
    metrics: GroupMetrics


@dataclass(frozen=True)
class ComparisonReport:
    start: datetime
    end: datetime
    group_by: tuple[GroupKey, ...]
    timezone: str
    currency: str
    as_of: datetime
    groups: tuple[GroupReport, ...]  # ordered by group values
    total: GroupMetrics  # every meeting in the period, whatever its group


def _ratio(numerator: float, denominator: int, digits: int) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def _invalid(field: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field, "code": code, "message": message}])


def _parse_bound(field: str, text: str | None, zone: ZoneInfo, *, is_end: bool) -> datetime:
    """A calendar date (midnight in the company's zone; an end date includes its whole day) or an
    RFC 3339 instant with an offset."""
    if text is None or not text.strip():
        raise _invalid(
            field,
            "missing_parameter",
            f"'{field}' is required (a date like 2026-01-31 or an RFC 3339 instant)",
        )
    text = text.strip()
    try:
        if _DATE_ONLY.match(text):
            day = date.fromisoformat(text)
            if is_end:
                day += timedelta(days=1)
            return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise _invalid(
            field, "invalid_date", f"'{field}' must be a date like 2026-01-31 or an RFC 3339 instant"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _invalid(field, "invalid_date", f"'{field}' needs a UTC offset, e.g. 2026-01-31T00:00:00+01:00")
    return moment.astimezone(UTC)


def _parse_group_by(text: str | None) -> tuple[GroupKey, ...]:
    if text is None or not text.strip():
        return DEFAULT_GROUP_BY
    keys: list[GroupKey] = []
    for part in (p.strip().lower() for p in text.split(",")):
        try:
            key = GroupKey(part)
        except ValueError:
            allowed = ", ".join(k.value for k in GroupKey)
            raise _invalid(
                "group_by", "unknown_group_by", f"unknown group_by {part[:40]!r}; use any of {allowed}"
            ) from None
        if key in keys:
            raise _invalid("group_by", "duplicate_group_by", f"group_by names {key.value!r} twice")
        keys.append(key)
    return tuple(keys)


def parse_report_request(
    start_text: str | None, end_text: str | None, group_by_text: str | None, timezone: str
) -> ReportRequest:
    """Check the caller's parameters; raises InvalidInput (422) naming the field and a stable code."""
    zone = parse_timezone(timezone)
    start = _parse_bound("from", start_text, zone, is_end=False)
    end = _parse_bound("to", end_text, zone, is_end=True)
    if start >= end:
        raise _invalid("to", "invalid_range", "'from' must be before 'to'")
    if end - start > MAX_RANGE:
        raise _invalid("to", "range_too_long", "the period must not be longer than 3 years")
    return ReportRequest(start, end, _parse_group_by(group_by_text))


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def week_buckets(start: datetime, end: datetime, zone: ZoneInfo) -> list[Bucket]:
    """The ISO weeks (Monday 00:00 to Monday 00:00 in `zone`) covering [start, end)."""
    first = start.astimezone(zone).date()
    monday = first - timedelta(days=first.weekday())
    buckets: list[Bucket] = []
    while True:
        next_monday = monday + timedelta(days=7)
        lower, upper = _local_midnight(monday, zone), _local_midnight(next_monday, zone)
        iso = monday.isocalendar()
        buckets.append(Bucket(f"{iso.year}-W{iso.week:02d}", lower, upper))
        if upper >= end:
            return buckets
        monday = next_monday


def month_buckets(start: datetime, end: datetime, zone: ZoneInfo) -> list[Bucket]:
    """The calendar months in `zone` covering [start, end)."""
    local = start.astimezone(zone).date()
    first = local.replace(day=1)
    buckets: list[Bucket] = []
    while True:
        following = (first + timedelta(days=32)).replace(day=1)
        lower, upper = _local_midnight(first, zone), _local_midnight(following, zone)
        buckets.append(Bucket(f"{first.year}-{first.month:02d}", lower, upper))
        if upper >= end:
            return buckets
        first = following


def _cents(amount: float) -> int:
    return round(amount * 100)


class ComparisonReporter:
    def __init__(
        self, db: Database, *, timezone: str, rates: CostRates, clock: Callable[[], datetime]
    ) -> None:
        self._db = db
        self._zone = parse_timezone(timezone)
        self._timezone = timezone
        self._rates = rates
        self._clock = clock

    def parse(self, start: str | None, end: str | None, group_by: str | None) -> ReportRequest:
        return parse_report_request(start, end, group_by, self._timezone)

    def query(self, request: ReportRequest) -> ReportQuery:
        """What the database is asked: the period, its buckets, "now", and the rates in cents."""
        group_by = request.group_by
        return ReportQuery(
            start=request.start,
            end=request.end,
            group_by=group_by,
            as_of=self._clock().astimezone(UTC),
            default_rate_cents=_cents(self._rates.default),
            rate_cents_by_email={e.strip().lower(): _cents(r) for e, r in self._rates.overrides.items()},
            weeks=week_buckets(request.start, request.end, self._zone) if GroupKey.WEEK in group_by else (),
            months=month_buckets(request.start, request.end, self._zone)
            if GroupKey.MONTH in group_by
            else (),
        )

    def build(self, request: ReportRequest) -> ComparisonReport:
        query = self.query(request)
        group_by = query.group_by
        with self._db.read() as conn:
            sums = report_repo.comparison_sums(conn, query)
        ordered = sorted(sums.items(), key=lambda item: tuple((v is None, v or "") for v in item[0]))
        total = sum((s for _, s in ordered), GroupSums())
        return ComparisonReport(
            start=request.start,
            end=request.end,
            group_by=group_by,
            timezone=self._timezone,
            currency=self._rates.currency,
            as_of=query.as_of,
            groups=tuple(
                GroupReport(dict(zip((k.value for k in group_by), values, strict=True)), GroupMetrics.of(s))
                for values, s in ordered
            ),
            total=GroupMetrics.of(total),
        )


def report_rows(report: ComparisonReport) -> Sequence[dict[str, object]]:
    """One flat row per group (group columns, then every metric): what CSV and tables show."""
    return [{**g.group, **{name: getattr(g.metrics, name) for name in METRIC_NAMES}} for g in report.groups]
