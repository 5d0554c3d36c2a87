"""Run the demo: the service on its sandboxed Zoom, Teams, Meet and HubSpot, on its own SQLite file;
a month of meetings (the customer ones booked on HubSpot deals and sent by the deal workflow's signed
webhook, the internal ones created through the API with the sandbox CRM key), played by the
emulators, their webhooks received and applied by the worker, reconciled from the providers'
reports, and the customer meetings' outcomes written back to the emulated HubSpot.

`demo_service` starts the service and stops it when left; `DemoService.play` fills it. A data
directory that already holds meetings is served as it is (the emulators keep nothing between
runs, so a month is played only into a fresh one).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from integrations.crm.hubspot.sandbox import HubSpotSandbox
from sandbox_demo.config import CRM_KEY, REPORTS_KEY, demo_config
from sandbox_demo.hubspot import (
    CRM,
    TEN_SECOND_LIMIT,
    DemoPortal,
    comes_from_hubspot,
    deal_ids,
    outcome_counts,
)
from sandbox_demo.plan import OFFICE_TIMEZONE, MonthPlan, PlannedMeeting, plan_month
from sandbox_demo.players import Stage, stage_for
from service.api.app import create_app
from service.bootstrap import Runtime, build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.domain.meeting import ProviderName
from service.storage import crm_repo, meetings_repo
from service.storage.database import upgrade_database
from service.storage.tables import crm_deliveries, meetings

# Creating meetings waits on the providers (the emulators), so a few go at once, as a CRM's would.
CREATE_CONCURRENCY = 8
# Meetings one reconciliation sweep takes (`reconcile_due_meetings`' limit).
RECONCILE_BATCH = 20
# How long the write-back may take: HubSpot's 10-second rate limit makes the outbox wait its turn.
WRITE_BACK_PATIENCE_SECONDS = 120.0


class DemoError(RuntimeError):
    """The demo could not be played; the message says what went wrong."""


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port
    days: int = 30
    seed: int = 1
    today: date | None = None  # the month ends the day before; default: today (UTC)


@dataclass
class PlayResult:
    plan: MonthPlan
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # plan ref -> the API's meeting
    deals: dict[str, str] = field(default_factory=dict)  # plan ref -> HubSpot deal id (customer meetings)
    # hs_meeting_outcome -> meeting engagements in the emulated HubSpot after the play.
    hubspot_outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def counts(self) -> Counter[tuple[str, str, str]]:
        """(provider, kind, outcome) -> meetings."""
        return Counter(
            (self.created[m.ref]["provider"], m.kind, m.outcome.value)
            for m in self.plan.meetings
            if m.ref in self.created
        )

    def notes(self) -> Counter[str]:
        return Counter(note for m in self.plan.meetings for note in set(m.notes))


@dataclass
class DemoService:
    url: str
    runtime: Runtime
    client: httpx.Client
    options: DemoOptions

    def has_meetings(self) -> bool:
        with self.runtime.db.read() as conn:
            return bool(conn.execute(select(func.count()).select_from(meetings)).scalar_one())

    def play(self, progress: Callable[[str], None] = lambda _: None) -> PlayResult:
        options = self.options
        today = options.today or datetime.now(UTC).date()
        result = PlayResult(plan_month(today, options.days, options.seed))
        started = time.monotonic()
        # Teams and Meet deliver only to subscriptions: the subscription job makes them first
        # (Graph validates the notification URL against this very service).
        self.runtime.worker.run_periodic(force=True)
        with self._portal(result.plan) as portal:
            result.deals = portal.deals
            self._play(result, portal, progress)
        result.seconds = time.monotonic() - started
        return result

    def _play(self, result: PlayResult, portal: DemoPortal, progress: Callable[[str], None]) -> None:
        booked = [m for m in result.plan.meetings if comes_from_hubspot(m)]
        scheduled = [m for m in result.plan.meetings if not comes_from_hubspot(m)]
        progress(
            f"booking {len(booked)} customer meetings on HubSpot deals (signed workflow webhooks) "
            f"and creating {len(scheduled)} internal ones through the API"
        )
        with ThreadPoolExecutor(CREATE_CONCURRENCY) as pool:
            for meeting, status in zip(booked, pool.map(portal.book, booked), strict=True):
                if status != 200:
                    raise DemoError(f"HubSpot's delivery of {meeting.title!r} got {status}")
            for ref, created in pool.map(self._create, scheduled):
                result.created[ref] = created
            # The deliveries become meetings on the routed providers: several workers at once,
            # as a scaled-out `salesmeet worker` would (each claims its own batch).
            for _ in pool.map(lambda _: self.runtime.worker.drain(), range(CREATE_CONCURRENCY)):
                pass
        result.created.update(self._booked_meetings(portal))
        stages: dict[str, Stage] = {}
        try:
            progress("playing them on Zoom, Teams and Meet")
            for number, meeting in enumerate(result.plan.meetings, start=1):
                created = result.created[meeting.ref]
                if meeting.happened is None:
                    if meeting.ref in portal.deals:
                        self._cancel_on_hubspot(portal, meeting)
                    else:
                        self._cancel(created)
                    continue
                provider = str(created["provider"])
                if provider not in stages:
                    stages[provider] = stage_for(
                        provider, self.runtime.sandbox_handle(ProviderName(provider))
                    )
                stages[provider].play(str(created["provider_meeting_id"]), meeting.happened, number)
                if number % 25 == 0:
                    self.runtime.worker.drain()  # the worker keeps up as the webhooks arrive
        finally:
            for stage in stages.values():
                stage.close()
        progress("applying webhooks and reconciling with the providers' reports")
        self.runtime.worker.drain()
        self._reconcile_everything_due(len(result.plan.meetings))
        progress("writing the customer meetings' outcomes back to HubSpot")
        self._write_back_everything()
        result.hubspot_outcomes = outcome_counts(portal.engagements())

    def _portal(self, plan: MonthPlan) -> DemoPortal:
        sandbox = self.runtime.crm_sandbox_handle(CRM)
        if not isinstance(sandbox, HubSpotSandbox):
            raise DemoError(f"the HubSpot sandbox is not running ({type(sandbox).__name__})")
        with sandbox.state.lock:
            sandbox.state.ten_second_limit = TEN_SECOND_LIMIT
        return DemoPortal.open(sandbox, deal_ids(plan))

    def _booked_meetings(self, portal: DemoPortal) -> dict[str, dict[str, Any]]:
        """Plan ref -> the meeting the deal's delivery made, read through the API."""
        by_deal: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {"external_system": CRM, "limit": 500}
        while True:
            page = self.client.get("/v1/meetings", params=params, headers=_bearer(CRM_KEY))
            page.raise_for_status()
            body = page.json()
            by_deal.update({m["external_ref"]["id"]: m for m in body["items"]})
            if not body.get("next_cursor"):
                break
            params["cursor"] = body["next_cursor"]
        missing = [ref for ref, deal in portal.deals.items() if deal not in by_deal]
        if missing:
            raise DemoError(
                f"{len(missing)} HubSpot deliveries made no meeting; {self._crm_delivery_errors()}"
            )
        return {ref: by_deal[deal] for ref, deal in portal.deals.items()}

    def _cancel_on_hubspot(self, portal: DemoPortal, meeting: PlannedMeeting) -> None:
        status = portal.cancel(meeting)
        if status != 200:
            raise DemoError(f"HubSpot's cancellation of {meeting.title!r} got {status}")

    def _crm_delivery_errors(self) -> str:
        with self.runtime.db.read() as conn:
            errors = conn.execute(
                select(crm_deliveries.c.last_error)
                .where(crm_deliveries.c.last_error.is_not(None))
                .distinct()
                .limit(3)
            ).scalars()
            return "; ".join(str(e) for e in errors) or "no delivery failed (see the log)"

    def _write_back_everything(self) -> None:
        """Drain the outbox: every settled HubSpot meeting written, waiting out HubSpot's rate
        limit as `serve` would (the outbox retries after the wait HubSpot asks for)."""
        deadline = time.monotonic() + WRITE_BACK_PATIENCE_SECONDS
        while True:
            self.runtime.worker.drain()
            with self.runtime.db.read() as conn:
                summary = crm_repo.outbox_summary(conn, CRM)
            if not summary.counts[crm_repo.PENDING]:
                break
            if time.monotonic() > deadline:
                raise DemoError(f"write-backs to HubSpot are still pending: {summary.last_error}")
            time.sleep(0.5)
        if summary.counts[crm_repo.PARKED]:
            raise DemoError(f"write-backs to HubSpot were parked: {summary.last_error}")

    def _reconcile_everything_due(self, meeting_count: int) -> None:
        """Sweep until nothing is left to reconcile: the worker takes a bounded batch per sweep,
        which `serve` spreads over minutes and the demo wants done now."""
        worker, db = self.runtime.worker, self.runtime.db
        for _ in range(meeting_count // RECONCILE_BATCH + 3):
            worker.run_periodic(force=True)
            worker.drain()
            with db.read() as conn:
                if not meetings_repo.due_for_reconciliation(conn, datetime.now(UTC), 1):
                    return
        raise DemoError("meetings are still waiting for reconciliation; see the log")

    def _create(self, meeting: PlannedMeeting) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "external_ref": {"system": "demo-crm", "id": meeting.ref},
            "title": meeting.title,
            "start": meeting.start.isoformat(),
            "duration_minutes": meeting.duration_minutes,
            "timezone": OFFICE_TIMEZONE,
            "organizer": {"email": meeting.organizer.email, "name": meeting.organizer.name},
            "attendees": [{"email": p.email, "name": p.name} for p in meeting.attendees],
        }
        if meeting.provider is not None:
            body["provider"] = meeting.provider
        response = self.client.post("/v1/meetings", json=body, headers=_bearer(CRM_KEY))
        if response.status_code not in (200, 201):
            raise DemoError(
                f"creating {meeting.title!r} failed: {response.status_code} {response.text[:300]}"
            )
        created: dict[str, Any] = response.json()
        return meeting.ref, created

    def _cancel(self, created: dict[str, Any]) -> None:
        response = self.client.delete(f"/v1/meetings/{created['id']}", headers=_bearer(CRM_KEY))
        if response.status_code not in (200, 204):
            raise DemoError(f"cancelling {created['title']!r} failed: {response.status_code}")

    def report(self, start: date, end: date, group_by: str) -> dict[str, Any]:
        response = self.client.get(
            "/v1/reports/comparison",
            params={"from": start.isoformat(), "to": end.isoformat(), "group_by": group_by},
            headers=_bearer(REPORTS_KEY),
        )
        response.raise_for_status()
        report: dict[str, Any] = response.json()
        return report

    def dashboard_url(self, first_day: date | None = None, last_day: date | None = None) -> str:
        if first_day is None or last_day is None:
            return f"{self.url}/dashboard"
        return f"{self.url}/dashboard?from={first_day.isoformat()}&to={last_day.isoformat()}"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DemoError(f"cannot listen on {host}:{port}: {exc.strerror}; try another --port") from None
    return sock


@contextmanager
def demo_service(options: DemoOptions, *, run_worker: bool = False) -> Iterator[DemoService]:
    """The service on the demo config and `options.data_dir`, listening before its config is made,
    so `public_url` (Graph validates it) is where it really is."""
    options.data_dir.mkdir(parents=True, exist_ok=True)
    sock = _bind(options.host, options.port)
    local = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host  # noqa: S104 - compared
    url = f"http://{local}:{sock.getsockname()[1]}"
    database = (options.data_dir / "salesmeet.db").resolve()
    settings = Settings(database_url=f"sqlite:///{database}", sandbox_dir=options.data_dir / "sandbox")
    try:
        runtime = build_runtime(parse_config(demo_config(url)), settings)
    except BaseException:
        sock.close()
        raise
    upgrade_database(runtime.db.engine)
    app = create_app(runtime, run_worker=run_worker)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="demo-api")
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DemoError("the service did not start")
            time.sleep(0.02)
        with httpx.Client(base_url=url, timeout=60) as client:
            yield DemoService(url, runtime, client, options)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        runtime.close()
