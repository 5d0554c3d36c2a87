"""`salesmeet demo`: the plan is reproducible and realistic, and a played month reaches the database
through the real flow: the customer meetings booked on HubSpot deals through the signed workflow
webhook and the internal ones created through the API, every played meeting reconciled, the report
counting what was played, and the emulated HubSpot holding each deal's outcome."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from integrations.crm.hubspot.sandbox import HubSpotSandbox
from sandbox_demo.config import demo_config
from sandbox_demo.org import COLLEAGUES, Person
from sandbox_demo.plan import Happened, Outcome, PlannedMeeting, plan_month
from sandbox_demo.run import DemoOptions, demo_service
from service.cli import app
from service.config.loader import parse_config
from service.storage.tables import meetings

TODAY = date(2026, 12, 1)


def test_the_same_seed_plans_the_same_month_and_another_seed_another() -> None:
    assert plan_month(TODAY, 30, 5) == plan_month(TODAY, 30, 5)
    assert plan_month(TODAY, 30, 5) != plan_month(TODAY, 30, 6)


def test_a_month_has_every_series_every_outcome_and_the_awkward_cases() -> None:
    month = plan_month(TODAY, 30, 1)
    series = Counter(m.series for m in month.meetings)
    assert set(series) == {
        "stand-up",
        "pipeline review",
        "enablement",
        "forecast call",
        "1:1",
        "discovery call",
        "demo",
        "QBR",
    }
    assert series["stand-up"] == 21  # the weekdays of November 2026 (the 30 days before 1 December)
    assert series["QBR"] == 10  # one per account
    outcomes = Counter(m.outcome for m in month.meetings)
    assert all(outcomes[o] for o in Outcome)
    notes = Counter(n for m in month.meetings for n in m.notes)
    assert notes["late start"] and notes["overrun"] and notes["rejoin"]
    assert {m.provider for m in month.meetings} == {"teams", "zoom", "meet", None}  # None: routing decides
    assert all(month.first_day <= m.start.date() <= month.last_day for m in month.meetings)
    # Customers come with display names, for name-based matching where a provider shows no e-mail.
    customers = [p for m in month.meetings for p in m.attendees if not p.internal]
    assert customers and all(p.name for p in customers)
    assert any(not p.signs_in for p in customers)


def test_the_demo_config_is_valid_and_names_every_colleague_in_its_routing(tmp_path: Path) -> None:
    config = parse_config(demo_config("http://127.0.0.1:8080"))
    named = {e for rule in config.routing.rules for e in rule.when.organizer or ()}
    assert {p.email for p in COLLEAGUES} <= named
    assert all(
        section.sandbox
        for section in (config.provider_config(n) for n in config.enabled_providers())
        if section
    )


@pytest.mark.slow
def test_salesmeet_demo_plays_a_short_month_and_the_report_counts_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    run = CliRunner().invoke(
        app, ["demo", "--data-dir", str(data_dir), "--port", "0", "--days", "4", "--seed", "3", "--no-serve"]
    )
    assert run.exit_code == 0, run.output
    assert "Dashboard:" in run.output and "sm_sandbox_reports_" in run.output
    assert "Played in" in run.output
    booked = [m for m in plan_month(datetime.now(UTC).date(), 4, 3).meetings if m.kind == "customer"]
    assert f"HubSpot:     {len(booked)} meeting engagements written back" in run.output

    played = list(plan_month(datetime.now(UTC).date(), 4, 3).meetings)
    options = DemoOptions(data_dir=data_dir, port=0)
    with demo_service(options) as demo:
        assert demo.has_meetings()  # a second run serves what is there, and plays nothing again
        with demo.runtime.db.read() as conn:
            by_state = dict(
                conn.execute(
                    select(meetings.c.completeness, func.count())
                    .where(meetings.c.status != "cancelled")
                    .group_by(meetings.c.completeness)
                ).all()
            )
        assert by_state == {"reconciled": sum(1 for m in played if m.outcome is not Outcome.CANCELLED)}
        first, last = min(m.start for m in played).date(), max(m.start for m in played).date()
        report = demo.report(first, last, "kind")
    for kind in ("internal", "customer"):
        planned = [m for m in played if m.kind == kind]
        figures = next(g for g in report["groups"] if g["group"]["kind"] == kind)
        assert figures["meetings_cancelled"] == sum(m.outcome is Outcome.CANCELLED for m in planned)
        assert figures["meetings_scheduled"] == sum(m.outcome is not Outcome.CANCELLED for m in planned)
        # Every meeting not cancelled had somebody in it.
        assert figures["meetings_held"] == figures["meetings_scheduled"]


def _attended(happened: Happened, internal: bool) -> bool:
    """Whether anyone on that side was in the meeting for the config's minimum (60 s), by the plan."""
    seconds: Counter[Person] = Counter()
    for session in happened.sessions:
        if session.who.internal == internal:
            seconds[session.who] += int((session.left_at - session.joined_at).total_seconds())
    return any(s >= 60 for s in seconds.values())


def _expected_engagement(meeting: PlannedMeeting) -> tuple[str, str, int]:
    """(hs_meeting_outcome, salesmeet_attendance, salesmeet_minutes), from what the plan says happened."""
    happened = meeting.happened
    if happened is None:
        return "CANCELED", "cancelled", 0
    minutes = round((happened.ended_at - happened.started_at) / timedelta(minutes=1))
    if not _attended(happened, internal=False):
        return "NO_SHOW", "customer_no_show", minutes
    if not _attended(happened, internal=True):
        return "NO_SHOW", "host_no_show", minutes
    return "COMPLETED", "completed", minutes


@pytest.mark.slow
def test_after_a_short_demo_hubspot_holds_one_engagement_per_deal_meeting_with_its_outcome(
    tmp_path: Path,
) -> None:
    options = DemoOptions(data_dir=tmp_path / "demo", port=0, days=3, seed=2, today=TODAY)
    with demo_service(options) as demo:
        result = demo.play()
        sandbox = demo.runtime.crm_sandbox_handle("hubspot")
        assert isinstance(sandbox, HubSpotSandbox)
        with sandbox.state.lock:
            engagements = list(sandbox.state.meetings.values())
        deal_meetings = [m for m in result.plan.meetings if m.kind == "customer"]
        expected = {m.ref: _expected_engagement(m) for m in deal_meetings}
        # The plan plays every case: held, a customer who never came, a host who never came, cancelled.
        assert {e[1] for e in expected.values()} == {
            "completed",
            "customer_no_show",
            "host_no_show",
            "cancelled",
        }
        # Customer meetings came from HubSpot's deliveries; the internal ones did not, and got no engagement.
        assert set(result.deals) == set(expected)
        assert all(result.created[ref]["external_ref"]["system"] == "hubspot" for ref in expected)
        assert len(engagements) == len(deal_meetings)
        for meeting in deal_meetings:
            deal_id = result.deals[meeting.ref]
            (engagement,) = sandbox.state.meetings_associated_to("deals", deal_id)
            props = engagement.properties
            written = (
                props["hs_meeting_outcome"],
                props["salesmeet_attendance"],
                int(props["salesmeet_minutes"]),
            )
            assert written == expected[meeting.ref], meeting.title
            assert props["hs_meeting_external_url"].endswith(
                f"/v1/meetings/{result.created[meeting.ref]['id']}"
            )
            customers = [p for p in meeting.attendees if not p.internal]
            assert len(engagement.associations["contacts"]) == len(customers)
        assert sum(result.hubspot_outcomes.values()) == len(deal_meetings)
        assert result.hubspot_outcomes == Counter(e[0] for e in expected.values())
