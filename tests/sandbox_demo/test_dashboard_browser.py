"""The dashboard in a real browser after a (short) demo: Debian's headless Chromium, driven by
Playwright, signs in with the reports key the way a sales leader does (typed into the page, kept in
the tab), and every chart and the headline table show what GET /v1/reports/comparison says.

Skips without /usr/bin/chromium, unless SALESMEET_REQUIRE_BROWSER=1 (as `.ci/run` sets): then fails.
The screenshot goes to the test's tmp dir and to docs/dashboard.png (the README shows it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from sandbox_demo.config import REPORTS_KEY
from sandbox_demo.run import DemoOptions, DemoService, PlayResult, demo_service

CHROMIUM = Path(os.environ.get("SALESMEET_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("SALESMEET_REQUIRE_BROWSER") == "1"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
KINDS = ("internal", "customer")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser_executable() -> Path:
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"SALESMEET_REQUIRE_BROWSER=1 but there is no browser at {CHROMIUM}")
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoService, PlayResult]]:
    # Three weeks: enough for several ISO weeks, every provider and every kind of outcome.
    options = DemoOptions(data_dir=tmp_path_factory.mktemp("demo"), port=0, days=21, seed=11)
    with demo_service(options) as demo:
        yield demo, demo.play()


def api_report(demo: DemoService, result: PlayResult, group_by: str) -> dict[str, Any]:
    return demo.report(result.plan.first_day, result.plan.last_day, group_by)


def group(report: dict[str, Any], **match: str | None) -> dict[str, Any] | None:
    return next((g for g in report["groups"] if all(g["group"].get(k) == v for k, v in match.items())), None)


def percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 1000) / 10


def chart_data(page: Any, canvas_id: str) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(
        """(id) => {
            const chart = window.Chart.getChart(id);
            return {labels: chart.data.labels,
                    datasets: chart.data.datasets.map((d) => ({label: d.label, data: d.data})),
                    drawn: chart.getDatasetMeta(0).data.length};
        }""",
        canvas_id,
    )
    return data


def test_the_dashboard_shows_the_reports_numbers_after_a_demo(
    browser_executable: Path, played: tuple[DemoService, PlayResult], tmp_path: Path
) -> None:
    demo, result = played
    first, last = result.plan.first_day, result.plan.last_day
    kinds = api_report(demo, result, "kind")
    weeks = api_report(demo, result, "week,kind")
    providers = api_report(demo, result, "provider,kind")
    assert {g["group"]["provider"] for g in providers["groups"]} == {"zoom", "teams", "meet"}
    assert all(group(kinds, kind=k) for k in KINDS)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(browser_executable), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(demo.dashboard_url(first, last))
            # The period comes from the address, as ISO dates, in editable fields.
            assert page.input_value("#from") == first.isoformat()
            assert page.input_value("#to") == last.isoformat()
            # Signing in: the reports key typed into the page, as its users do.
            page.fill("#key", REPORTS_KEY)
            page.click("button[type=submit]")
            # A locator, not wait_for_function: the page's CSP forbids the eval that one needs.
            expect(page.locator("#status")).to_have_text(re.compile(r"^Figures as of"), timeout=30_000)
            assert not errors, errors

            # Side by side: minutes on one chart, rates (%) on another; the table says the same.
            minutes = chart_data(page, "kind-minutes-chart")
            assert minutes["labels"] == ["Length", "Overrun", "Start delay"]
            for dataset in minutes["datasets"]:
                figures = group(kinds, kind=dataset["label"])
                assert figures is not None
                assert dataset["data"] == [
                    figures["avg_actual_minutes"],
                    figures["avg_overrun_minutes"],
                    figures["avg_start_delay_minutes"],
                ]
            assert minutes["drawn"] == 3
            rates = chart_data(page, "kind-rates-chart")
            for dataset in rates["datasets"]:
                figures = group(kinds, kind=dataset["label"])
                assert figures is not None
                assert dataset["data"] == [
                    percent(figures["invitee_attendance_rate"]),
                    percent(figures["customer_no_show_rate"]),
                    percent(figures["host_no_show_rate"]),
                ]
            table = page.eval_on_selector_all(
                "#kind-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
            )
            held = next(row for row in table if row[0] == "Meetings held")
            assert held[1:] == [str(group(kinds, kind=k)["meetings_held"]) for k in KINDS]  # type: ignore[index]

            # Week by week: one bar per ISO week and kind, counts on one chart, money on the other.
            held_by_week = chart_data(page, "week-held-chart")
            week_names = sorted({g["group"]["week"] for g in weeks["groups"]})
            assert [label.split(" ")[0] for label in held_by_week["labels"]] == week_names
            assert len(week_names) >= 3
            for dataset in held_by_week["datasets"]:
                assert dataset["data"] == [
                    (group(weeks, week=w, kind=dataset["label"]) or {}).get("meetings_held", 0)
                    for w in week_names
                ]
            cost_by_week = chart_data(page, "week-cost-chart")
            for dataset in cost_by_week["datasets"]:
                assert dataset["data"] == [
                    (group(weeks, week=w, kind=dataset["label"]) or {}).get("internal_cost", 0)
                    for w in week_names
                ]

            by_provider = chart_data(page, "provider-chart")
            assert by_provider["labels"] == ["meet", "teams", "zoom"]
            for dataset in by_provider["datasets"]:
                assert dataset["data"] == [
                    (group(providers, provider=p, kind=dataset["label"]) or {}).get("meetings_held", 0)
                    for p in by_provider["labels"]
                ]

            # The internal-load line is there, with its figures, warning or not.
            warning = page.text_content("#load-warning") or ""
            assert page.is_visible("#load-warning") and "h per rep per week" in warning
            period = page.text_content("#period") or ""
            assert period.startswith(f"{first.isoformat()} to {last.isoformat()}")

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_the_default_period_is_the_last_four_full_weeks_and_this_one(
    browser_executable: Path, played: tuple[DemoService, PlayResult]
) -> None:
    demo, _ = played
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(browser_executable), headless=True)
        try:
            page = browser.new_page()
            page.goto(demo.dashboard_url())
            start = date.fromisoformat(page.input_value("#from"))
            end = date.fromisoformat(page.input_value("#to"))
        finally:
            browser.close()
    assert start.isoweekday() == 1
    assert 28 <= (end - start).days <= 34
