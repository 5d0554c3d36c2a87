"""/v1/reports: what sales leaders read. JSON, or CSV for `Accept: text/csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from service.api.auth import Caller, Scope
from service.api.deps import ServicesDep, scoped
from service.config.schema import AppConfig
from service.storage.database import Database
from service.usecases.comparison_report import (
    METRIC_NAMES,
    ComparisonReport,
    ComparisonReporter,
    CostRates,
    GroupMetrics,
    report_rows,
)

router = APIRouter(prefix="/v1/reports", tags=["reports"])

ReportsCaller = Annotated[Caller, Depends(scoped(Scope.REPORTS))]

# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class MetricsOut(BaseModel):
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
    def of(cls, metrics: GroupMetrics) -> MetricsOut:
        return cls(**{name: getattr(metrics, name) for name in METRIC_NAMES})


class GroupOut(MetricsOut):
    group: dict[str, str | None]


class ComparisonOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    group_by: list[str]
    timezone: str
    currency: str
    as_of: datetime
    groups: list[GroupOut]
    total: MetricsOut

    @classmethod
    def of(cls, report: ComparisonReport) -> ComparisonOut:
        return cls(
            from_=report.start,
            to=report.end,
            group_by=[k.value for k in report.group_by],
            timezone=report.timezone,
            currency=report.currency,
            as_of=report.as_of,
            groups=[GroupOut(group=g.group, **MetricsOut.of(g.metrics).model_dump()) for g in report.groups],
            total=MetricsOut.of(report.total),
        )


def comparison_reporter(config: AppConfig, db: Database, clock: Callable[[], datetime]) -> ComparisonReporter:
    """The report as the admin configured it: the company's time zone and hourly costs."""
    cost = config.company.hourly_cost
    rates = CostRates(default=cost.default, currency=cost.currency, overrides=dict(cost.overrides))
    return ComparisonReporter(db, timezone=config.company.timezone, rates=rates, clock=clock)


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def report_csv(report: ComparisonReport) -> str:
    """One row per group: the group columns, every figure, and the currency of `internal_cost`."""
    columns: Sequence[str] = [*(k.value for k in report.group_by), *METRIC_NAMES, "currency"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in report_rows(report):
        writer.writerow([_cell(row.get(c, report.currency)) for c in columns])
    return out.getvalue()


def _wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == "text/csv" for part in accept.split(","))


@router.get(
    "/comparison",
    response_model=ComparisonOut,
    response_model_by_alias=True,
    responses={200: {"content": {"text/csv": {}}}},
)
async def comparison(
    request: Request,
    _caller: ReportsCaller,
    svc: ServicesDep,
    start: Annotated[
        str | None, Query(alias="from", description="Date (company time zone) or RFC 3339.")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="Date (its whole day) or RFC 3339 (excluded).")
    ] = None,
    group_by: Annotated[
        str | None, Query(description="kind (default), provider, organizer, week, month.")
    ] = None,
) -> Response | ComparisonOut:
    reporter = comparison_reporter(svc.config, svc.db, svc.clock)
    report = await run_in_threadpool(reporter.build, reporter.parse(start, end, group_by))
    if _wants_csv(request):
        name = f"comparison-{report.start:%Y%m%dT%H%M}-{report.end:%Y%m%dT%H%M}.csv"
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return ComparisonOut.of(report)
