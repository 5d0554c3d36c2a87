"""`salesmeet demo`: the plan is reproducible and realistic, and a played month reaches the database
through the real flow: every meeting created through the API, every played meeting reconciled,
and the report counts what was played."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sandbox_demo.config import demo_config
from sandbox_demo.org import COLLEAGUES
from sandbox_demo.plan import Outcome, plan_month
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
