"""The comparison report over hand-built months, on SQLite and PostgreSQL.

Meetings are written through the meetings repository, what happened in them as provider events,
and the attendance records by the worker's own refresh; every expected figure is worked out here.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, insert, select, update
from typer.testing import CliRunner

from service.bootstrap import Runtime, build_runtime
from service.cli import app
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity
from service.domain.meeting import (
    Attendee,
    Classification,
    MeetingKind,
    MeetingOrigin,
    MeetingStatus,
    Person,
    ProviderName,
    Schedule,
)
from service.errors import InvalidInput
from service.storage import attendance_repo, meetings_repo
from service.storage.database import MIGRATIONS_DIR, Database, create_database_engine, upgrade_database
from service.storage.tables import meetings, participant_attendance
from service.usecases.comparison_report import (
    METRIC_NAMES,
    ComparisonReport,
    ComparisonReporter,
    CostRates,
    GroupMetrics,
    parse_report_request,
)
from service.usecases.record_attendance import refresh_dirty_meetings
from tests.support import (
    ADMIN_KEY,
    CRM_KEY,
    REPORTS_KEY,
    RunningService,
    auth,
    running_service,
    sandbox_config,
)

AS_OF = datetime(2026, 1, 28, 12, 0, tzinfo=UTC)  # "now" for the report
RATES = CostRates(default=80.0, currency="EUR", overrides={"CRO@acme.example": 250.0})
_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _attendee(email: str) -> Attendee:
    internal = email.endswith("@acme.example")
    return Attendee(email, None, True, Classification.INTERNAL if internal else Classification.EXTERNAL)


def schedule(
    rt: Runtime,
    start: datetime,
    minutes: int,
    attendees: Sequence[str],
    *,
    organizer: str = "host@acme.example",
    kind: MeetingKind | None = None,
    provider: ProviderName = ProviderName.ZOOM,
) -> tuple[str, str]:
    """A meeting scheduled through the API and created on its provider: (meeting id, provider id)."""
    meeting_id, provider_meeting_id = str(uuid.uuid4()), str(next(_ids))
    people = [_attendee(a) for a in attendees]
    derived = any(a.classification is Classification.EXTERNAL for a in people)
    with rt.db.write() as conn:
        meetings_repo.insert_claim(
            conn,
            meeting_id=meeting_id,
            origin=MeetingOrigin.API,
            title="t",
            agenda=None,
            kind=kind or (MeetingKind.CUSTOMER if derived else MeetingKind.INTERNAL),
            kind_derived=kind is None,
            schedule=Schedule(start, minutes, "Europe/Berlin"),
            organizer=Person(organizer),
            attendees=people,
            external_ref=None,
            now=start - timedelta(days=7),
        )
        assert meetings_repo.record_provider_result(
            conn,
            meeting_id,
            provider=provider,
            provider_meeting_id=provider_meeting_id,
            join_url="https://example.test/j",
            start_url=None,
            extra={},
            attempts=(),
            now=start - timedelta(days=7),
        )
    return meeting_id, provider_meeting_id


Session = tuple[str, datetime, datetime]  # (e-mail, or "id:<participant id>" for a dial-in; join; leave)


def happen(
    rt: Runtime,
    provider_meeting_id: str,
    started: datetime,
    ended: datetime,
    sessions: Sequence[Session],
    provider: ProviderName = ProviderName.ZOOM,
) -> None:
    """The provider's events for a meeting that took place."""

    def event(kind: EventType, when: datetime, key: str, who: str | None = None) -> AttendanceEvent:
        person = None
        if who is not None:
            person = (
                ParticipantIdentity(None, who.removeprefix("id:"), "Dial-in")
                if who.startswith("id:")
                else ParticipantIdentity(who, None)
            )
        return AttendanceEvent(provider, provider_meeting_id, kind, when, key, participant=person)

    events = [
        event(EventType.MEETING_STARTED, started, "start"),
        event(EventType.MEETING_ENDED, ended, "end"),
    ]
    for n, (who, joined, left) in enumerate(sessions):
        events.append(event(EventType.PARTICIPANT_JOINED, joined, f"j{n}", who))
        events.append(event(EventType.PARTICIPANT_LEFT, left, f"l{n}", who))
    with rt.db.write() as conn:
        attendance_repo.insert_events(conn, [(e, None) for e in events])
        meeting_id = meetings_repo.find_by_provider_meeting(conn, provider, provider_meeting_id)
        assert meeting_id is not None
        meetings_repo.mark_dirty(conn, meeting_id, started)


def refresh(rt: Runtime) -> None:
    """What the worker does after deliveries: recompute every dirty meeting's attendance record."""
    while refresh_dirty_meetings(rt.db, rt.services.attendance_policy, AS_OF + timedelta(days=30)):
        pass


def cancel(rt: Runtime, meeting_id: str) -> None:
    with rt.db.write() as conn:
        conn.execute(
            update(meetings).where(meetings.c.id == meeting_id).values(status=MeetingStatus.CANCELLED.value)
        )


def reporter(rt: Runtime, rates: CostRates = RATES, as_of: datetime = AS_OF) -> ComparisonReporter:
    return ComparisonReporter(rt.db, timezone="Europe/Berlin", rates=rates, clock=lambda: as_of)


def report(rt: Runtime, start: str, end: str, group_by: str | None = None) -> ComparisonReport:
    r = reporter(rt)
    return r.build(r.parse(start, end, group_by))


def by_group(result: ComparisonReport) -> dict[tuple[str | None, ...], GroupMetrics]:
    return {tuple(g.group.values()): g.metrics for g in result.groups}


@dataclass
class January:
    """Seven customer meetings and one internal meeting in January 2026 (Berlin)."""

    cancelled: str
    unrecorded: str


def build_january(rt: Runtime) -> January:
    # C1: everyone came; started 5 minutes late, ran 40 of 30 minutes.
    _, c1 = schedule(rt, at(5, 10), 30, ["bob@customer.example", "ann@acme.example"])
    happen(
        rt,
        c1,
        at(5, 10, 5),
        at(5, 10, 45),
        [
            ("host@acme.example", at(5, 10, 5), at(5, 10, 45)),  # 2400 s
            ("bob@customer.example", at(5, 10, 6), at(5, 10, 45)),  # 2340 s
            ("ann@acme.example", at(5, 10, 5), at(5, 10, 35)),  # 1800 s
        ],
    )
    # C2: the customer never came; the host waited 20 of 60 minutes (another organizer, on Teams).
    _, c2 = schedule(
        rt,
        at(12, 10),
        60,
        ["carl@customer.example"],
        organizer="host2@acme.example",
        provider=ProviderName.TEAMS,
    )
    happen(
        rt,
        c2,
        at(12, 10),
        at(12, 10, 20),
        [("host2@acme.example", at(12, 10), at(12, 10, 20))],
        provider=ProviderName.TEAMS,
    )
    # C3: the host never came; the customer gave up after 10 minutes; started 2 minutes late.
    _, c3 = schedule(rt, at(19, 15), 30, ["dana@customer.example"])
    happen(rt, c3, at(19, 15, 2), at(19, 15, 12), [("dana@customer.example", at(19, 15, 2), at(19, 15, 12))])
    # C4: cancelled.
    c4, _ = schedule(rt, at(20, 9), 30, ["erin@customer.example"])
    cancel(rt, c4)
    # C5: nobody came and the provider said nothing: the record lists the two invitees, absent.
    schedule(rt, at(26, 9), 30, ["eve@customer.example"])
    # I1: internal; the CRO (250/h) for an hour, Ann (80/h) for half, and a dial-in for 10 minutes.
    _, i1 = schedule(rt, at(7, 9), 60, ["ann@acme.example"], organizer="cro@acme.example")
    happen(
        rt,
        i1,
        at(7, 9),
        at(7, 10),
        [
            ("cro@acme.example", at(7, 9), at(7, 10)),
            ("ann@acme.example", at(7, 9), at(7, 9, 30)),
            ("id:dial-1", at(7, 9, 10), at(7, 9, 20)),
        ],
    )
    # C7: still to come (its end is after the report's "now").
    schedule(rt, at(29, 10), 30, ["finn@customer.example"])
    refresh(rt)
    # C6: passed, but the worker has not written its attendance record: no data at all.
    c6, _ = schedule(rt, at(27, 9), 30, ["gus@customer.example"])
    return January(cancelled=c4, unrecorded=c6)


def test_the_headline_split_internal_vs_customer(runtime: Runtime) -> None:
    build_january(runtime)
    result = report(runtime, "2026-01-01", "2026-01-31")
    assert result.group_by == ("kind",)
    assert result.start == datetime(2025, 12, 31, 23, tzinfo=UTC)  # midnight in Berlin
    assert result.end == datetime(2026, 1, 31, 23, tzinfo=UTC)  # the whole of 31 January
    assert (result.currency, result.timezone, result.as_of) == ("EUR", "Europe/Berlin", AS_OF)
    groups = by_group(result)
    assert list(groups) == [("customer",), ("internal",)]

    assert groups[("customer",)] == GroupMetrics(
        meetings_scheduled=6,  # C1 C2 C3 C5 C6 C7
        meetings_held=3,  # C1 C2 C3
        meetings_cancelled=1,  # C4
        scheduled_minutes=210.0,  # 30 + 60 + 30 + 30 + 30 + 30
        actual_minutes=70.0,  # 40 + 20 + 10
        avg_actual_minutes=23.33,
        avg_overrun_minutes=-16.67,  # (10 - 40 - 20) / 3
        avg_start_delay_minutes=2.33,  # (5 + 0 + 2) / 3
        avg_participants=1.67,  # (3 + 1 + 1) / 3
        avg_internal_participants=1.0,  # (2 + 1 + 0) / 3
        avg_external_participants=0.67,  # (1 + 0 + 1) / 3
        # passed: C1 (3 of 3 invitees came), C2 (1 of 2), C3 (1 of 2), C5 (0 of 2), C6 (no record)
        invitee_attendance_rate=0.5556,
        customer_no_show_rate=0.6,  # C2 C5 C6 of C1 C2 C3 C5 C6
        host_no_show_rate=0.6,  # C3 C5 C6
        internal_person_hours=1.5,  # 2400 + 1800 + 1200 seconds
        internal_cost=120.0,  # 1.5 h x 80
    )
    assert groups[("internal",)] == GroupMetrics(
        meetings_scheduled=1,
        meetings_held=1,
        meetings_cancelled=0,
        scheduled_minutes=60.0,
        actual_minutes=60.0,
        avg_actual_minutes=60.0,
        avg_overrun_minutes=0.0,
        avg_start_delay_minutes=0.0,
        avg_participants=3.0,  # the dial-in counts as a participant, neither internal nor external
        avg_internal_participants=2.0,
        avg_external_participants=0.0,
        invitee_attendance_rate=1.0,  # the CRO (organizer) and Ann
        customer_no_show_rate=None,  # no customer meeting to divide by
        host_no_show_rate=None,
        internal_person_hours=1.5,
        internal_cost=290.0,  # 1 h x 250 (override, matched whatever the case) + 0.5 h x 80
    )
    assert result.total.meetings_scheduled == 7 and result.total.meetings_held == 4
    assert result.total.internal_cost == 410.0
    assert result.total.avg_participants == 2.0  # (5 + 3) / 4
    assert result.total.invitee_attendance_rate == round(7 / 11, 4)


def test_an_empty_period_has_no_groups_and_null_averages(runtime: Runtime) -> None:
    build_january(runtime)
    result = report(runtime, "2026-03-01", "2026-03-31", "kind,week")
    assert result.groups == ()
    assert result.total.meetings_scheduled == 0 and result.total.internal_cost == 0.0
    assert result.total.avg_actual_minutes is None and result.total.customer_no_show_rate is None


def test_cancelled_meetings_count_only_as_cancelled(runtime: Runtime) -> None:
    january = build_january(runtime)
    # The cancelled meeting alone: 20 January, Berlin.
    only = by_group(report(runtime, "2026-01-20", "2026-01-20"))
    assert list(only) == [("customer",)]
    metrics = only[("customer",)]
    assert (metrics.meetings_cancelled, metrics.meetings_scheduled, metrics.scheduled_minutes) == (1, 0, 0.0)
    assert metrics.customer_no_show_rate is None and metrics.invitee_attendance_rate is None
    assert january.cancelled


def test_a_passed_meeting_without_attendance_data_is_a_no_show_on_both_sides(runtime: Runtime) -> None:
    build_january(runtime)
    metrics = by_group(report(runtime, "2026-01-27", "2026-01-27"))[("customer",)]
    assert (metrics.meetings_scheduled, metrics.meetings_held) == (1, 0)
    assert (metrics.customer_no_show_rate, metrics.host_no_show_rate) == (1.0, 1.0)
    assert metrics.invitee_attendance_rate is None  # no record, so no invitees known
    assert metrics.avg_participants is None and metrics.actual_minutes == 0.0


def test_a_meeting_still_to_come_is_scheduled_but_not_yet_a_no_show(runtime: Runtime) -> None:
    build_january(runtime)
    metrics = by_group(report(runtime, "2026-01-29", "2026-01-29"))[("customer",)]
    assert metrics.meetings_scheduled == 1 and metrics.scheduled_minutes == 30.0
    assert metrics.customer_no_show_rate is None and metrics.invitee_attendance_rate is None


def test_group_by_week_and_kind_in_the_company_time_zone(runtime: Runtime) -> None:
    build_january(runtime)
    groups = by_group(report(runtime, "2026-01-01", "2026-01-31", "week,kind"))
    assert {k: (m.meetings_scheduled, m.meetings_cancelled) for k, m in groups.items()} == {
        ("2026-W02", "customer"): (1, 0),  # C1, Mon 5 Jan
        ("2026-W02", "internal"): (1, 0),  # I1
        ("2026-W03", "customer"): (1, 0),  # C2
        ("2026-W04", "customer"): (1, 1),  # C3, C4 (cancelled)
        ("2026-W05", "customer"): (3, 0),  # C5, C6, C7
    }
    assert groups[("2026-W03", "customer")].customer_no_show_rate == 1.0
    assert groups[("2026-W04", "customer")].host_no_show_rate == 1.0


def test_group_by_provider_and_organizer(runtime: Runtime) -> None:
    build_january(runtime)
    groups = by_group(report(runtime, "2026-01-01", "2026-01-31", "provider,organizer"))
    assert {k: m.meetings_scheduled for k, m in groups.items()} == {
        ("teams", "host2@acme.example"): 1,
        ("zoom", "cro@acme.example"): 1,
        ("zoom", "host@acme.example"): 5,
    }
    assert groups[("teams", "host2@acme.example")].internal_person_hours == round(1200 / 3600, 2)
    assert groups[("zoom", "host@acme.example")].internal_cost == round((2400 + 1800) / 3600 * 80, 2)


def test_month_and_week_boundaries_are_in_the_company_time_zone(runtime: Runtime) -> None:
    # 31 Jan 22:30 UTC is 23:30 in Berlin (January); 23:30 UTC is already 1 February there.
    schedule(runtime, at(31, 22, 30), 30, ["a@acme.example"])
    schedule(runtime, at(31, 23, 30), 30, ["a@acme.example"])
    # Sunday 1 Feb 22:30 UTC is still Sunday in Berlin (ISO week 5); 23:30 UTC is Monday (week 6).
    schedule(runtime, at(1, 22, 30, month=2), 30, ["a@acme.example"])
    schedule(runtime, at(1, 23, 30, month=2), 30, ["a@acme.example"])
    refresh(runtime)

    months = by_group(report(runtime, "2026-01-01", "2026-02-28", "month"))
    assert {k: m.meetings_scheduled for k, m in months.items()} == {("2026-01",): 1, ("2026-02",): 3}
    weeks = by_group(report(runtime, "2026-01-26", "2026-02-08", "week"))
    assert {k: m.meetings_scheduled for k, m in weeks.items()} == {("2026-W05",): 3, ("2026-W06",): 1}
    both = by_group(report(runtime, "2026-01-26", "2026-02-08", "month,week"))
    assert {k: m.meetings_scheduled for k, m in both.items()} == {
        ("2026-01", "2026-W05"): 1,
        ("2026-02", "2026-W05"): 2,
        ("2026-02", "2026-W06"): 1,
    }
    # A period given as a date ends with that day in Berlin: 31 January excludes 23:30 UTC.
    january = report(runtime, "2026-01-01", "2026-01-31")
    assert january.total.meetings_scheduled == 1


def test_an_instant_period_is_half_open(runtime: Runtime) -> None:
    schedule(runtime, at(10, 9), 30, ["a@acme.example"])
    assert report(runtime, "2026-01-10T09:00:00Z", "2026-01-10T09:00:01Z").total.meetings_scheduled == 1
    assert report(runtime, "2026-01-10T08:00:00Z", "2026-01-10T10:00:00+01:00").total.meetings_scheduled == 0


def test_without_overrides_every_internal_hour_costs_the_default(runtime: Runtime) -> None:
    build_january(runtime)
    flat = reporter(runtime, CostRates(default=100.0, currency="USD", overrides={}))
    result = flat.build(flat.parse("2026-01-01", "2026-01-31", None))
    assert result.currency == "USD"
    assert result.total.internal_cost == 300.0  # 3 person-hours x 100


def test_the_report_reproduces_from_the_attendance_records(runtime: Runtime) -> None:
    """Recompute the headline figures from each meeting's attendance record."""
    build_january(runtime)
    result = report(runtime, "2026-01-01", "2026-01-31")
    with runtime.db.read() as conn:
        listed, _ = meetings_repo.list_meetings(conn, meetings_repo.MeetingFilter(), limit=100, after=None)
        records = {m.id: attendance_repo.load_participants(conn, m.id) for m in listed}
    live = [m for m in listed if m.status is not MeetingStatus.CANCELLED]
    held = [m for m in live if any(p["attended"] for p in records[m.id])]
    internal_seconds = sum(
        p["attended_seconds"]
        for m in live
        for p in records[m.id]
        if p["classification"] is Classification.INTERNAL
    )
    assert result.total.meetings_held == len(held)
    assert result.total.internal_person_hours == round(internal_seconds / 3600, 2)
    assert result.total.avg_participants == round(
        sum(p["attended"] for m in held for p in records[m.id]) / len(held), 2
    )


@pytest.mark.parametrize(
    ("start", "end", "group_by", "field", "code"),
    [
        ("2026-02-01", "2026-01-01", None, "to", "invalid_range"),
        ("2026-01-01", "2026-01-01", "kind,team", "group_by", "unknown_group_by"),
        ("2026-01-01", "2026-01-01", "kind,kind", "group_by", "duplicate_group_by"),
        ("2026-13-01", "2027-01-01", None, "from", "invalid_date"),
        ("yesterday", "2027-01-01", None, "from", "invalid_date"),
        ("2026-01-01T00:00:00", "2027-01-01", None, "from", "invalid_date"),  # no offset
        ("2026-01-01", None, None, "to", "missing_parameter"),
        ("2020-01-01", "2026-01-01", None, "to", "range_too_long"),
    ],
)
def test_bad_parameters_are_refused_with_a_stable_code(
    start: str, end: str | None, group_by: str | None, field: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_report_request(start, end, group_by, "Europe/Berlin")
    assert caught.value.details[0]["field"] == field
    assert caught.value.details[0]["code"] == code


def test_the_longest_period_allowed_is_three_years() -> None:
    request = parse_report_request("2024-01-01", "2026-12-31", "week", "Europe/Berlin")
    assert request.end - request.start == timedelta(days=3 * 365 + 1)


def test_metrics_serialise_to_plain_values(runtime: Runtime) -> None:
    build_january(runtime)
    metrics = asdict(report(runtime, "2026-01-01", "2026-01-31").total)
    assert all(v is None or isinstance(v, int | float) for v in metrics.values())


# --- over HTTP: the real service, its config's time zone and hourly costs -----------------------


@pytest.fixture
def svc(database_url: str) -> Iterator[RunningService]:
    config = sandbox_config()
    config["company"]["hourly_cost"]["overrides"] = {"cro@acme.example": 250}
    with running_service(database_url, config=config) as running:
        build_january(running.runtime)
        yield running


def get_report(svc: RunningService, key: str = REPORTS_KEY, **params: str) -> httpx.Response:
    query = {"from": "2026-01-01", "to": "2026-01-31", **params}
    return svc.client.get("/v1/reports/comparison", params=query, headers=auth(key))


def test_the_report_needs_the_reports_scope(svc: RunningService) -> None:
    assert get_report(svc, CRM_KEY).status_code == 403
    assert get_report(svc, CRM_KEY).json()["code"] == "forbidden"
    assert svc.client.get("/v1/reports/comparison").status_code == 401
    assert get_report(svc, REPORTS_KEY).status_code == 200
    assert get_report(svc, ADMIN_KEY).status_code == 200


def test_json_report_uses_the_configured_zone_and_costs(svc: RunningService) -> None:
    response = get_report(svc, group_by="kind")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "2025-12-31T23:00:00Z" and body["to"] == "2026-01-31T23:00:00Z"
    assert (body["group_by"], body["timezone"], body["currency"]) == (["kind"], "Europe/Berlin", "EUR")
    groups = {g["group"]["kind"]: g for g in body["groups"]}
    assert groups["internal"]["internal_cost"] == 290.0  # the CRO's override from the config file
    assert groups["internal"]["customer_no_show_rate"] is None
    # "now" is the real clock here: every January meeting has passed, C7 (nobody came) too.
    assert groups["customer"]["customer_no_show_rate"] == round(4 / 6, 4)
    assert body["total"]["meetings_scheduled"] == 7 and body["total"]["internal_cost"] == 410.0


def test_csv_has_a_row_per_group_with_every_figure(svc: RunningService) -> None:
    response = svc.client.get(
        "/v1/reports/comparison",
        params={"from": "2026-01-01", "to": "2026-01-31", "group_by": "kind,week"},
        headers={**auth(REPORTS_KEY), "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="comparison-')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["kind", "week", *METRIC_NAMES, "currency"]
    assert [r[:2] for r in rows[1:]] == [
        ["customer", "2026-W02"],
        ["customer", "2026-W03"],
        ["customer", "2026-W04"],
        ["customer", "2026-W05"],
        ["internal", "2026-W02"],
    ]
    internal = dict(zip(rows[0], rows[5], strict=True))
    assert internal["meetings_held"] == "1" and internal["internal_cost"] == "290.0"
    assert internal["customer_no_show_rate"] == "" and internal["currency"] == "EUR"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "invalid_range"),
        ({"group_by": "team"}, "unknown_group_by"),
        ({"from": "01/02/2026"}, "invalid_date"),
        ({"from": "2020-01-01"}, "range_too_long"),
    ],
)
def test_bad_parameters_get_422_with_a_stable_code(
    svc: RunningService, params: dict[str, str], code: str
) -> None:
    response = get_report(svc, **params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input" and body["details"][0]["code"] == code


# --- the command line ----------------------------------------------------------------------------


def test_the_report_command_prints_json_csv_and_a_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/salesmeet.db"
    config = sandbox_config()
    built = build_runtime(parse_config(config), Settings(database_url=url))
    upgrade_database(built.db.engine)
    try:
        build_january(built)
    finally:
        built.close()
    config_path = tmp_path / "salesmeet.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {"SALESMEET_DATABASE_URL": url}
    base = ["report", "--config", str(config_path), "--from", "2026-01-01", "--to", "2026-01-31"]
    runner = CliRunner()

    as_json = runner.invoke(app, [*base, "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.output)
    assert {g["group"]["kind"]: g["meetings_scheduled"] for g in body["groups"]} == {
        "customer": 6,
        "internal": 1,
    }
    assert body["total"]["internal_cost"] == 240.0  # no override in this config: 3 h x 80

    as_csv = runner.invoke(app, [*base, "--group-by", "provider", "--format", "csv"], env=env)
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert [r[0] for r in rows] == ["provider", "teams", "zoom"]

    as_table = runner.invoke(app, base, env={**env, "COLUMNS": "200"})
    assert as_table.exit_code == 0, as_table.output
    held = next(line for line in as_table.output.splitlines() if "meetings_held" in line)
    assert re.findall(r"\d+", held) == ["3", "1", "4"]  # customer, internal, total

    bad = runner.invoke(app, [*base[:5], "--to", "2025-01-01"], env=env)
    assert bad.exit_code == 2 and "'from' must be before 'to'" in bad.output


# --- the migration that adds the counts ----------------------------------------------------------


def test_the_migration_counts_records_written_before_it(database_url: str) -> None:
    engine = create_database_engine(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        alembic_command.upgrade(cfg, "20261129_0001")
    now = datetime(2026, 1, 5, tzinfo=UTC)
    with engine.begin() as conn:
        meetings_repo.insert_discovered(
            conn,
            meeting_id="m1",
            provider=ProviderName.ZOOM,
            provider_meeting_id="1",
            instance="i",
            title="t",
            organizer_email="host@acme.example",
            start=now,
            timezone="UTC",
            now=now,
        )
        people = [
            ("host@acme.example", "internal", True, 600),
            ("bob@customer.example", "external", True, 30),
            ("ann@acme.example", "internal", False, 120),
        ]
        conn.execute(
            insert(participant_attendance),
            [
                {
                    "meeting_id": "m1",
                    "participant_key": email,
                    "email": email,
                    "classification": kind,
                    "invited": invited,
                    "attended_seconds": seconds,
                    "attended": seconds >= 60,
                    "late_seconds": 0,
                    "sessions": [],
                }
                for email, kind, invited, seconds in people
            ],
        )
    upgrade_database(engine)
    with engine.connect() as conn:
        c = meetings.c
        row = conn.execute(
            select(
                c.attended_count,
                c.attended_internal_count,
                c.attended_external_count,
                c.invited_count,
                c.invited_attended_count,
                c.internal_attended_seconds,
            )
        ).one()
    engine.dispose()
    assert tuple(row) == (2, 2, 0, 2, 1, 720)


# --- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_is_served_from_here_without_a_key(tmp_path: Path) -> None:
    with running_service(f"sqlite:///{tmp_path}/salesmeet.db") as running:
        page = running.client.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        scripts = re.findall(r'src="([^"]+)"', page.text)
        assert scripts == ["/dashboard/chart.umd.js", "/dashboard/dashboard.js"]  # no CDN
        for script in scripts:
            asset = running.client.get(script)
            assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
        assert "Chart.js v4" in running.client.get("/dashboard/chart.umd.js").text[:200]
        # The page reads the report API with the key typed in, never a key of its own.
        script = running.client.get("/dashboard/dashboard.js").text
        assert "/v1/reports/comparison" in script and "sessionStorage" in script
        assert running.client.get("/dashboard/../cli.py").status_code == 404
        assert running.client.get("/dashboard/dashboard.html.bak").status_code == 404


def test_on_sqlite_the_report_reads_meetings_only_through_its_covering_index(tmp_path: Path) -> None:
    """If the report reads a column missing from ix_meetings_report, SQLite silently fetches every
    row at random instead (several times slower over a year): keep the two in step."""
    engine = create_database_engine(f"sqlite:///{tmp_path}/salesmeet.db")
    upgrade_database(engine)
    statements: list[tuple[str, Any]] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, parameters, _context, _many: statements.append(
            (statement, parameters)
        ),
    )
    reporter = ComparisonReporter(
        Database(engine), timezone="Europe/Berlin", rates=RATES, clock=lambda: AS_OF
    )
    reporter.build(reporter.parse("2026-01-01", "2026-12-31", "kind,week,provider,organizer,month"))
    selects = [(s, p) for s, p in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) == 2  # the figures, and the cost of people with their own rate
    with engine.connect() as conn:
        for statement, parameters in selects:
            plan = " / ".join(
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "SCAN meetings" not in plan, plan
            assert "meetings USING COVERING INDEX ix_meetings_report" in plan or (
                "meetings USING INDEX sqlite_autoindex_meetings_1" in plan  # by id, for the few rated people
            ), plan
    engine.dispose()
