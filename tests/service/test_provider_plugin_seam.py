"""A provider plugged in from this test file alone: config section, secret, adapter, a webhook whose
deliveries name resources (resolved outside every transaction), reconciliation and subscriptions.

Nothing outside this file changes for it: that is what the plugin seam promises a new provider.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select, text, update

from integrations.base import (
    MeetingRequest,
    ProviderError,
    ProviderHealth,
    ProviderMeeting,
    ProviderNotFound,
    ProviderRejected,
    ProviderSubscription,
    ProviderUnavailable,
)
from integrations.plugin import (
    Accept,
    ProviderContext,
    ProviderParts,
    ProviderPlugin,
    Reject,
    SecretSpec,
    WebhookEndpoint,
    WebhookRequest,
    WebhookVerdict,
)
from integrations.registry import DEFAULT_PLUGINS
from integrations.sandbox.server import serve_in_thread
from service.api.app import create_app
from service.bootstrap import Runtime, build_runtime
from service.config.errors import ConfigError
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.config.sections import ProviderSection
from service.domain.events import AttendanceEvent, EventType, ParticipantIdentity, UndecodableDelivery
from service.domain.meeting import ProviderName
from service.domain.reports import AttendanceReport, ReportedSession
from service.storage import inbox_repo
from service.storage.database import Database, upgrade_database
from service.storage.tables import webhook_deliveries
from tests.support import ADMIN_KEY, CRM_KEY, auth, meeting_body, sandbox_config

FAKE = ProviderName("fakeco")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FakeConfig(ProviderSection):
    required_when_live: ClassVar[tuple[str, ...]] = ("region",)

    region: str | None = None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeCloud:
    """The provider's side: its meetings, what happened in them, and its subscriptions."""

    meetings: dict[str, ProviderMeeting] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, list[tuple[str, datetime, datetime]]] = field(default_factory=dict)
    report_error: ProviderError | None = None
    subscriptions: dict[str, ProviderSubscription] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeAdapter:
    name = FAKE

    def __init__(self, cloud: FakeCloud) -> None:
        self._cloud = cloud

    def create_meeting(self, request: MeetingRequest) -> ProviderMeeting:
        with self._cloud.lock:
            existing = self._cloud.by_key.get(request.idempotency_key)
            if existing is not None:
                return self._cloud.meetings[existing]
            meeting_id = f"fk-{len(self._cloud.meetings) + 1}"
            made = ProviderMeeting(meeting_id, f"https://fake.example/j/{meeting_id}")
            self._cloud.meetings[meeting_id] = made
            self._cloud.by_key[request.idempotency_key] = meeting_id
            self._cloud.calls.append(f"create {meeting_id}")
            return made

    def update_meeting(self, provider_meeting_id: str, request: MeetingRequest) -> ProviderMeeting:
        return self._cloud.meetings[provider_meeting_id]

    def cancel_meeting(self, provider_meeting_id: str, extra: object = None) -> None:
        self._cloud.meetings.pop(provider_meeting_id, None)

    def fetch_attendance(self, provider_meeting_id: str, instance: str | None = None) -> AttendanceReport:
        self._cloud.calls.append(f"report {provider_meeting_id}")
        if self._cloud.report_error is not None:
            raise self._cloud.report_error
        played = self._cloud.sessions.get(provider_meeting_id, [])
        rows = tuple(ReportedSession(email, None, None, joined, left) for email, joined, left in played)
        return AttendanceReport(
            actual_start=min(j for _, j, _ in played),
            actual_end=max(left for _, _, left in played),
            sessions=rows,
        )

    def check_health(self) -> ProviderHealth:
        return ProviderHealth(token_obtainable=True)


class FakeResolver:
    """Notifications say only which meeting changed; the events are read from the provider."""

    def __init__(self, cloud: FakeCloud, db_probe: list[Database]) -> None:
        self._cloud = cloud
        self._db_probe = db_probe
        self.resolved: list[str] = []

    def resolve(self, body: bytes, headers: Mapping[str, str]) -> list[AttendanceEvent]:
        self._prove_no_transaction_is_open()
        resource = json.loads(body)["resource"]
        meeting_id = resource.removeprefix("meetings/")
        if meeting_id not in self._cloud.meetings:
            raise UndecodableDelivery(f"no such meeting {resource}")
        self.resolved.append(resource)
        events: list[AttendanceEvent] = []
        for email, joined, left in self._cloud.sessions.get(meeting_id, []):
            who = ParticipantIdentity(email, None)
            for kind, at in ((EventType.PARTICIPANT_JOINED, joined), (EventType.PARTICIPANT_LEFT, left)):
                events.append(AttendanceEvent(FAKE, meeting_id, kind, at, f"{kind}:{email}:{at}", who))
        ended = max(left for _, _, left in self._cloud.sessions[meeting_id])
        events.append(AttendanceEvent(FAKE, meeting_id, EventType.MEETING_ENDED, ended, f"end:{ended}"))
        return events

    def _prove_no_transaction_is_open(self) -> None:
        """A write to every delivery row succeeds at once: the worker holds no lock and no write
        transaction while a resolver calls the provider (on SQLite a held BEGIN IMMEDIATE, on
        PostgreSQL a held row lock, would make this wait and fail)."""
        db = self._db_probe[0]
        with db.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(update(webhook_deliveries).values(attempts=webhook_deliveries.c.attempts))


class FakeSubscriptions:
    renew_before = timedelta(minutes=30)

    def __init__(self, cloud: FakeCloud, clock: Clock) -> None:
        self._cloud = cloud
        self._clock = clock
        self._made = 0

    def wanted(self) -> Sequence[str]:
        return ["meetings"]

    def create(self, resource: str) -> ProviderSubscription:
        self._made += 1
        made = ProviderSubscription(resource, f"sub-{self._made}", self._clock() + timedelta(hours=2))
        self._cloud.subscriptions[made.provider_subscription_id] = made
        self._cloud.calls.append(f"subscribe {made.provider_subscription_id}")
        return made

    def renew(self, subscription: ProviderSubscription) -> ProviderSubscription:
        if subscription.provider_subscription_id not in self._cloud.subscriptions:
            raise ProviderNotFound(FAKE, "subscription gone")
        renewed = ProviderSubscription(
            subscription.resource, subscription.provider_subscription_id, self._clock() + timedelta(hours=2)
        )
        self._cloud.subscriptions[renewed.provider_subscription_id] = renewed
        self._cloud.calls.append(f"renew {renewed.provider_subscription_id}")
        return renewed

    def delete(self, subscription: ProviderSubscription) -> None:
        self._cloud.subscriptions.pop(subscription.provider_subscription_id, None)


async def check_fake_webhook(request: WebhookRequest) -> WebhookVerdict:
    if request.headers.get("x-fake-signature") != "good":
        return Reject(401, "bad_signature", "not signed by the fake provider")
    return Accept(hashlib.sha256(request.body).hexdigest(), needs_resolution=True, status=202)


def fake_plugin(cloud: FakeCloud, clock: Clock, db_probe: list[Database]) -> ProviderPlugin[FakeConfig]:
    def build(context: ProviderContext[FakeConfig]) -> ProviderParts:
        assert context.secret("fakeco_api_key") == "k-123"
        assert context.section.region == "eu"
        return ProviderParts(
            adapter=FakeAdapter(cloud),
            webhooks=(
                WebhookEndpoint(
                    "/webhooks/fakeco", check_fake_webhook, kept_headers=frozenset({"x-fake-signature"})
                ),
            ),
            resolver=FakeResolver(cloud, db_probe),
            subscriptions=FakeSubscriptions(cloud, clock),
        )

    return ProviderPlugin(
        name=FAKE, config_model=FakeConfig, secrets=(SecretSpec("fakeco_api_key"),), build=build
    )


@dataclass
class Harness:
    runtime: Runtime
    client: httpx.Client
    cloud: FakeCloud
    clock: Clock

    @property
    def resolver(self) -> FakeResolver:
        resolver = self.runtime.providers[FAKE].parts.resolver
        assert isinstance(resolver, FakeResolver)
        return resolver


@pytest.fixture
def fake(database_url: str) -> Iterator[Harness]:
    cloud, clock, probe = FakeCloud(), Clock(START), []
    registry = DEFAULT_PLUGINS.with_plugin(fake_plugin(cloud, clock, probe))
    data: dict[str, Any] = sandbox_config()
    data["providers"]["fakeco"] = {"enabled": True, "region": "eu", "reconcile_delay_seconds": 60}
    data["routing"] = {"default": "fakeco"}
    config = parse_config(data, registry=registry)
    settings = Settings(database_url=database_url).with_secrets({"fakeco_api_key": "k-123"})
    runtime = build_runtime(config, settings, clock=clock, registry=registry)
    probe.append(runtime.db)
    upgrade_database(runtime.db.engine)
    server = serve_in_thread(create_app(runtime), lifespan="on")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield Harness(runtime, client, cloud, clock)
    finally:
        server.stop()
        runtime.close()


def test_the_config_file_takes_the_plugins_section_and_names_its_secret() -> None:
    cloud, clock = FakeCloud(), Clock(START)
    registry = DEFAULT_PLUGINS.with_plugin(fake_plugin(cloud, clock, []))
    data: dict[str, Any] = sandbox_config()
    data["providers"]["fakeco"] = {"enabled": True, "regoin": "eu", "api_key": "x"}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, registry=registry)
    message = str(caught.value)
    assert "providers.fakeco.regoin: unknown key 'regoin' (did you mean 'region'?)" in message
    assert "providers.fakeco.region: required when fakeco is enabled without sandbox: true" in message
    assert (
        "providers.fakeco.api_key: secrets are not read from the config file; set SALESMEET_FAKECO_API_KEY"
        in (message)
    )
    # Without the plugin, the same section is an unknown provider.
    with pytest.raises(ConfigError, match=r"unknown provider 'fakeco' \(known: zoom, teams, meet\)"):
        parse_config(data)


def test_a_plugged_in_provider_schedules_resolves_reconciles_and_renews(fake: Harness) -> None:
    client, worker = fake.client, fake.runtime.worker

    created = client.post("/v1/meetings", json=meeting_body(), headers=auth(CRM_KEY))
    assert created.status_code == 201, created.text
    meeting = created.json()
    assert meeting["provider"] == "fakeco" and meeting["join_url"].startswith("https://fake.example/j/")
    again = client.post("/v1/meetings", json=meeting_body(), headers=auth(CRM_KEY))
    assert (again.status_code, again.json()["id"]) == (200, meeting["id"])
    assert fake.cloud.calls == [f"create {meeting['provider_meeting_id']}"]

    pmid = meeting["provider_meeting_id"]
    fake.cloud.sessions[pmid] = [
        ("host@acme.example", START, START + timedelta(minutes=30)),
        ("bob@customer.example", START + timedelta(minutes=2), START + timedelta(minutes=25)),
    ]
    body = json.dumps({"resource": f"meetings/{pmid}"}).encode()
    forged = client.post("/webhooks/fakeco", content=body, headers={"x-fake-signature": "forged"})
    assert forged.status_code == 401
    for _ in range(2):  # a redelivery is stored once
        accepted = client.post("/webhooks/fakeco", content=body, headers={"x-fake-signature": "good"})
        assert accepted.status_code == 202
    with fake.runtime.db.read() as conn:
        assert inbox_repo.counts_by_status(conn) == {inbox_repo.UNRESOLVED: 1}

    fake.clock.now = START + timedelta(minutes=30, seconds=30)
    worker.drain()
    assert fake.resolver.resolved == [f"meetings/{pmid}"]
    with fake.runtime.db.read() as conn:
        assert inbox_repo.counts_by_status(conn) == {inbox_repo.DONE: 1}
    live = client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth(CRM_KEY)).json()
    assert live["completeness"] == "live"
    assert {p["email"]: p["attended_seconds"] for p in live["participants"]} == {
        "host@acme.example": 1800,
        "bob@customer.example": 1380,
    }

    # The provider said the meeting ended at 09:30; its report is asked for after the plugin's 60 s.
    worker.run_periodic(force=True)
    assert f"report {pmid}" not in fake.cloud.calls
    fake.clock.now = START + timedelta(minutes=31)
    worker.run_periodic(force=True)
    assert f"report {pmid}" in fake.cloud.calls
    reconciled = client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth(CRM_KEY)).json()
    assert reconciled["completeness"] == "reconciled"

    # Subscriptions: created at the first periodic run, renewed once due, recreated once gone.
    admin = client.get("/v1/admin/providers", headers=auth(ADMIN_KEY)).json()
    (entry,) = [p for p in admin if p["provider"] == "fakeco"]
    (subscription,) = entry["subscriptions"]
    assert (subscription["resource"], subscription["id"], subscription["state"]) == (
        "meetings",
        "sub-1",
        "active",
    )
    fake.clock.now += timedelta(hours=1, minutes=45)  # 15 min before expiry: within renew_before
    worker.run_periodic(force=True)
    assert "renew sub-1" in fake.cloud.calls
    fake.cloud.subscriptions.clear()  # the provider removed it
    fake.clock.now += timedelta(hours=1, minutes=45)
    worker.run_periodic(force=True)
    admin = client.get("/v1/admin/providers", headers=auth(ADMIN_KEY)).json()
    (entry,) = [p for p in admin if p["provider"] == "fakeco"]
    assert [(s["id"], s["state"]) for s in entry["subscriptions"]] == [("sub-2", "active")]


def test_a_delivery_that_cannot_be_resolved_is_retried_then_parked_and_replayable(fake: Harness) -> None:
    body = json.dumps({"resource": "meetings/fk-404"}).encode()
    assert (
        fake.client.post("/webhooks/fakeco", content=body, headers={"x-fake-signature": "good"}).status_code
        == 202
    )
    fake.runtime.worker.drain()
    with fake.runtime.db.read() as conn:
        row = conn.execute(select(webhook_deliveries.c.status, webhook_deliveries.c.last_error)).one()
    assert row.status == inbox_repo.PARKED and "no such meeting meetings/fk-404" in row.last_error
    # Once the provider knows the meeting, `inbox replay` sends it back to its resolver.
    fake.cloud.meetings["fk-404"] = ProviderMeeting("fk-404", "https://fake.example/j/fk-404")
    fake.cloud.sessions["fk-404"] = [("host@acme.example", START, START + timedelta(minutes=5))]
    with fake.runtime.db.write() as conn:
        assert inbox_repo.requeue(conn, provider="fakeco", status="parked", now=fake.clock()) == 1
        assert inbox_repo.counts_by_status(conn) == {inbox_repo.UNRESOLVED: 1}
    fake.runtime.worker.drain()
    assert fake.resolver.resolved == ["meetings/fk-404"]


def test_a_provider_failure_while_resolving_is_retried_with_backoff(fake: Harness) -> None:
    class Flaky(FakeResolver):
        failures = 2

        def resolve(self, body: bytes, headers: Mapping[str, str]) -> list[AttendanceEvent]:
            if self.failures:
                self.failures -= 1
                raise ProviderUnavailable(FAKE, "503 from the provider")
            return []

    flaky = Flaky(fake.cloud, [fake.runtime.db])
    fake.runtime.worker._resolvers["fakeco"] = flaky
    fake.client.post("/webhooks/fakeco", content=b'{"resource": "x"}', headers={"x-fake-signature": "good"})
    fake.runtime.worker.drain()
    with fake.runtime.db.read() as conn:
        row = conn.execute(select(webhook_deliveries)).one()
    assert (row.status, row.attempts) == (inbox_repo.UNRESOLVED, 1)
    assert row.last_error == "provider_unavailable: 503 from the provider"
    assert row.next_attempt_at == fake.clock() + timedelta(seconds=2)
    for step in (2, 4):
        fake.clock.now += timedelta(seconds=step)
        fake.runtime.worker.drain()
    with fake.runtime.db.read() as conn:
        assert conn.execute(select(webhook_deliveries.c.status)).scalar_one() == inbox_repo.DONE


@pytest.mark.parametrize(
    ("error", "tries_before_partial"),
    [
        (ProviderRejected(FAKE, "report access denied"), 1),  # never going to work: partial at once
        (ProviderUnavailable(FAKE, "report service down"), 6),  # retried with backoff, then partial
    ],
)
def test_a_report_that_never_comes_leaves_the_meeting_partial_with_the_reason(
    fake: Harness, error: ProviderError, tries_before_partial: int
) -> None:
    meeting = fake.client.post("/v1/meetings", json=meeting_body(), headers=auth(CRM_KEY)).json()
    pmid = meeting["provider_meeting_id"]
    fake.cloud.sessions[pmid] = [("host@acme.example", START, START + timedelta(minutes=20))]
    fake.cloud.report_error = error
    fake.client.post(
        "/webhooks/fakeco",
        content=json.dumps({"resource": f"meetings/{pmid}"}).encode(),
        headers={"x-fake-signature": "good"},
    )
    fake.clock.now = START + timedelta(hours=1)
    fake.runtime.worker.drain()
    tries = 0
    while True:
        fake.runtime.worker.run_periodic(force=True)
        tries = fake.cloud.calls.count(f"report {pmid}")
        record = fake.client.get(f"/v1/meetings/{meeting['id']}/attendance", headers=auth(CRM_KEY)).json()
        if record["completeness"] != "live" or tries > 10:
            break
        fake.clock.now += timedelta(hours=7)  # past any backoff
    assert tries == tries_before_partial
    assert record["completeness"] == "partial"
    assert (
        record["completeness_reason"]
        == f"no post-meeting report from the provider: {error.code}: {error.message}"
    )
    # The record still stands on the webhooks: the host's 20 minutes, closed at the last leave.
    assert {p["email"]: p["attended_seconds"] for p in record["participants"]} == {
        "host@acme.example": 1200,
        "bob@customer.example": 0,
    }


def test_one_sweep_reconciles_every_due_meeting_not_one_batch(fake: Harness) -> None:
    """More meetings due than one batch: one periodic run reconciles them all, each asked for once;
    meetings whose report fails are asked for once per sweep, not again and again."""
    client, worker = fake.client, fake.runtime.worker
    ids = []
    for n in range(45):
        body = meeting_body(external_ref={"system": "hubspot", "id": f"deal-{n}"})
        created = client.post("/v1/meetings", json=body, headers=auth(CRM_KEY))
        assert created.status_code == 201, created.text
        meeting = created.json()
        ids.append(meeting["id"])
        fake.cloud.sessions[meeting["provider_meeting_id"]] = [
            ("host@acme.example", START, START + timedelta(minutes=30))
        ]
    fake.clock.now = START + timedelta(hours=2)  # no end was announced: all due after the grace hour

    fake.cloud.report_error = ProviderUnavailable(FAKE, "down")
    worker.run_periodic(force=True)
    reports = [call for call in fake.cloud.calls if call.startswith("report ")]
    assert len(reports) == len(set(reports)) == 45

    fake.cloud.report_error = None
    fake.clock.now += timedelta(hours=1)  # past every failed meeting's retry time
    worker.run_periodic(force=True)
    assert len([call for call in fake.cloud.calls if call.startswith("report ")]) == 90
    for meeting_id in ids:
        record = client.get(f"/v1/meetings/{meeting_id}/attendance", headers=auth(CRM_KEY)).json()
        assert record["completeness"] == "reconciled", meeting_id
