"""A CRM plugged in from this test file alone: config section, secret, a verified inbound endpoint,
the shared YAML mapping, and a write-back client that fails the way CRMs fail.

Nothing outside this file changes for it: that is what the CRM seam promises a new CRM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from integrations.crm.base import CrmRateLimited, CrmRecord, CrmRejected, CrmUnavailable, MeetingOutcome
from integrations.crm.mapping import map_record
from integrations.crm.plugin import CrmContext, CrmParts, CrmPlugin, CrmSection
from integrations.plugin import Accept, Reject, SecretSpec, WebhookEndpoint, WebhookRequest, WebhookVerdict
from integrations.registry import DEFAULT_PLUGINS
from integrations.sandbox.server import serve_in_thread
from service.api.app import create_app
from service.bootstrap import Runtime, build_runtime
from service.cli import app as cli
from service.config.errors import ConfigError
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.storage import crm_repo
from service.storage.database import upgrade_database
from service.storage.tables import crm_deliveries, crm_outbox
from tests.support import ADMIN_KEY, auth, sandbox_config

START = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeCrmSection(CrmSection):
    portal: str | None = None


@dataclass
class FakeCrmCloud:
    """The CRM's side: the objects written back, and the failures it will answer with next."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Exception] = field(default_factory=list)
    writes: int = 0

    def write_outcome(self, outcome: MeetingOutcome, remote_id: str | None) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.writes += 1
        if remote_id is None:  # an earlier write whose id was never recorded is found again
            remote_id = next((k for k, o in self.objects.items() if o["url"] == outcome.meeting_url), None)
        remote_id = remote_id or f"obj-{len(self.objects) + 1}"
        self.objects[remote_id] = {
            "url": outcome.meeting_url,
            "outcome": outcome.outcome.value,
            "deal": outcome.context.get("deal"),
        }
        return remote_id


async def check_fake_crm(request: WebhookRequest) -> WebhookVerdict:
    if request.headers.get("x-fakecrm-key") != "s3cret":
        return Reject(401, "bad_signature", "not from the fake CRM")
    delivery_id = request.headers.get("x-fakecrm-delivery")
    if not delivery_id:
        return Reject(400, "missing_delivery_id", "no delivery id")
    return Accept(delivery_id, status=204)


def fake_crm(cloud: FakeCrmCloud) -> CrmPlugin[FakeCrmSection]:
    def build(context: CrmContext[FakeCrmSection]) -> CrmParts:
        assert context.secret("fakecrm_token") == "t-1"
        mapping = context.section.mapping

        def parse(body: bytes, headers: Mapping[str, str]) -> list[CrmRecord]:
            return [map_record(item, mapping) for item in json.loads(body)]

        endpoint = WebhookEndpoint(
            "/webhooks/fakecrm",
            check_fake_crm,
            kept_headers=frozenset({"x-fakecrm-key", "x-fakecrm-delivery"}),
        )
        return CrmParts(parse=parse, inbound=(endpoint,), writer=cloud)

    return CrmPlugin(
        name="fakecrm", config_model=FakeCrmSection, build=build, secrets=(SecretSpec("fakecrm_token"),)
    )


MAPPING = {
    "object_id": "id",
    "title": "name",
    "start": "when",
    "duration_minutes": "minutes",
    "timezone": "tz",
    "organizer": "owner",
    "attendees": "contacts",
    "cancelled": {"property": "stage", "values": ["lost"]},
    "version": "modified",
    "context": {"deal": "id"},
}


@dataclass
class Harness:
    runtime: Runtime
    client: httpx.Client
    cloud: FakeCrmCloud
    clock: Clock

    def deliver(self, key: str, **record: Any) -> httpx.Response:
        body = {
            "id": "deal-7",
            "name": "Discovery",
            "when": int(START.timestamp() * 1000),
            "minutes": 30,
            "tz": "Europe/Berlin",
            "owner": "host@acme.example",
            "contacts": "bob@customer.example; ann@customer.example",
            "modified": 1,
            **record,
        }
        return self.client.post(
            "/webhooks/fakecrm",
            content=json.dumps([body]),
            headers={"x-fakecrm-key": "s3cret", "x-fakecrm-delivery": key},
        )

    def meetings(self) -> list[dict[str, Any]]:
        found = self.client.get(
            "/v1/meetings", params={"external_system": "fakecrm"}, headers=auth(ADMIN_KEY)
        ).json()
        items: list[dict[str, Any]] = found["items"]
        return items


@pytest.fixture
def crm(database_url: str) -> Iterator[Harness]:
    cloud, clock = FakeCrmCloud(), Clock(datetime.now(UTC))
    registry = DEFAULT_PLUGINS.with_crm(fake_crm(cloud))
    data: dict[str, Any] = sandbox_config()
    data["crm"] = {"fakecrm": {"enabled": True, "portal": "p1", "mapping": MAPPING}}
    config = parse_config(data, registry=registry)
    settings = Settings(database_url=database_url).with_secrets({"fakecrm_token": "t-1"})
    runtime = build_runtime(config, settings, clock=clock, registry=registry)
    upgrade_database(runtime.db.engine)
    server = serve_in_thread(create_app(runtime), lifespan="on")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield Harness(runtime, client, cloud, clock)
    finally:
        server.stop()
        runtime.close()


def test_the_config_file_takes_the_crm_section_and_refuses_its_secret() -> None:
    registry = DEFAULT_PLUGINS.with_crm(fake_crm(FakeCrmCloud()))
    data: dict[str, Any] = sandbox_config()
    data["crm"] = {"fakecrm": {"enabled": True, "portl": "p1", "fakecrm_token": "x"}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, registry=registry)
    message = str(caught.value)
    assert "crm.fakecrm.portl: unknown key 'portl'" in message
    assert "crm.fakecrm.fakecrm_token: secrets are not read from the config file" in message
    with pytest.raises(ConfigError, match=r"crm\.fakecrm"):
        parse_config(data)  # without the plugin the section is unknown


def test_deliveries_create_reschedule_in_place_and_ignore_retries_and_stale_ones(crm: Harness) -> None:
    forged = crm.client.post("/webhooks/fakecrm", content=b"[]", headers={"x-fakecrm-key": "nope"})
    assert forged.status_code == 401
    for _ in range(2):  # the CRM's retry of one delivery is stored once
        assert crm.deliver("d1").status_code == 204
    with crm.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(crm_deliveries)).scalar_one() == 1
    crm.runtime.worker.drain()
    (meeting,) = crm.meetings()
    assert meeting["external_ref"] == {"system": "fakecrm", "id": "deal-7"}
    assert meeting["provider"] == "zoom" and meeting["join_url"]
    assert {a["email"] for a in meeting["attendees"]} == {"bob@customer.example", "ann@customer.example"}

    later = START + timedelta(hours=1)
    crm.deliver("d3", when=later.isoformat(), minutes=45, modified=3)
    crm.deliver("d2", when=(START + timedelta(hours=5)).isoformat(), modified=2)  # older, arrives last
    crm.runtime.worker.drain()
    (moved,) = crm.meetings()
    assert (moved["id"], moved["provider_meeting_id"]) == (meeting["id"], meeting["provider_meeting_id"])
    assert moved["duration_minutes"] == 45
    assert datetime.fromisoformat(moved["start"]) == later
    with crm.runtime.db.read() as conn:
        counts = crm_repo.delivery_counts(conn)
    assert counts == {("fakecrm", "done"): 3}


def test_cancel_is_written_back_once_through_an_outage_and_a_rate_limit(crm: Harness) -> None:
    crm.deliver("d1")
    crm.runtime.worker.drain()
    crm.cloud.failures = [
        CrmUnavailable("fakecrm", "503"),
        CrmRateLimited("fakecrm", "429", retry_after_seconds=40),
    ]
    crm.deliver("d2", stage="lost", modified=2)
    crm.runtime.worker.drain()
    (meeting,) = crm.meetings()
    assert meeting["status"] == "cancelled"
    with crm.runtime.db.read() as conn:
        row = conn.execute(select(crm_outbox)).one()
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "crm_unavailable: 503")
    crm.clock.now += timedelta(seconds=2)
    crm.runtime.worker.drain()
    with crm.runtime.db.read() as conn:
        row = conn.execute(select(crm_outbox)).one()
    assert row.next_attempt_at == crm.clock.now + timedelta(seconds=40)  # the CRM's Retry-After wins
    crm.clock.now += timedelta(seconds=39)
    crm.runtime.worker.drain()
    assert crm.cloud.writes == 0
    crm.clock.now += timedelta(seconds=1)
    crm.runtime.worker.drain()
    assert list(crm.cloud.objects.values()) == [
        {"url": f"http://127.0.0.1:9/v1/meetings/{meeting['id']}", "outcome": "cancelled", "deal": "deal-7"}
    ]
    crm.clock.now += timedelta(minutes=10)
    crm.runtime.worker.drain()  # nothing changed: nothing written again
    assert crm.cloud.writes == 1

    admin = crm.client.get("/v1/admin/crm", headers=auth(ADMIN_KEY)).json()
    assert admin == [
        {
            "crm": "fakecrm",
            "sandbox": False,
            "write_back": True,
            "deliveries": {"pending": 0, "done": 2, "parked": 0, "recent_parked": []},
            "outbox": {
                "pending": 0,
                "done": 1,
                "parked": 0,
                "oldest_pending_at": None,
                "last_written_at": admin[0]["outbox"]["last_written_at"],
                "last_error": None,
                "recent_parked": [],
            },
        }
    ]
    # A replay of what was done writes again, as an update of the same object.
    with crm.runtime.db.write() as conn:
        assert crm_repo.requeue_outbox(conn, crm="fakecrm", state="done", now=crm.clock()) == 1
    crm.runtime.worker.drain()
    assert crm.cloud.writes == 2 and len(crm.cloud.objects) == 1


def test_a_record_that_is_not_a_meeting_is_parked_with_the_reason(crm: Harness) -> None:
    crm.deliver("d1", owner="someone@customer.example")
    crm.runtime.worker.drain()
    with crm.runtime.db.read() as conn:
        row = conn.execute(select(crm_deliveries.c.status, crm_deliveries.c.last_error)).one()
    assert row.status == "parked" and "organizer" in row.last_error
    assert crm.meetings() == []


def test_admin_api_and_outbox_status_show_why_deliveries_and_write_backs_were_parked(
    crm: Harness, database_url: str
) -> None:
    crm.deliver("d1")
    crm.runtime.worker.drain()
    for n in range(1, 7):
        crm.deliver(f"unreadable-{n}", id=f"deal-{n}", when="tomorrow at ten")
    long_reason = "Property values were not valid: " + "hs_meeting_body too long; " * 40
    crm.cloud.failures = [CrmRejected("fakecrm", long_reason)]
    crm.deliver("d2", stage="lost", modified=2)
    crm.runtime.worker.drain()

    (status,) = crm.client.get("/v1/admin/crm", headers=auth(ADMIN_KEY)).json()
    deliveries = status["deliveries"]
    assert deliveries["parked"] == 6
    # The five newest, newest first: they were parked in one round, so by arrival.
    assert [d["delivery_key"] for d in deliveries["recent_parked"]] == [
        f"unreadable-{n}" for n in (6, 5, 4, 3, 2)
    ]
    newest = deliveries["recent_parked"][0]
    assert newest["attempts"] == 1 and newest["parked_at"] is not None
    assert newest["error"] == "unreadable: when: not epoch ms or ISO 8601: 'tomorrow at ten'"

    (meeting,) = crm.meetings()
    (write_back,) = status["outbox"]["recent_parked"]
    assert status["outbox"]["parked"] == 1
    assert (write_back["meeting_id"], write_back["record_id"], write_back["remote_id"]) == (
        meeting["id"],
        "deal-7",
        None,
    )
    assert write_back["attempts"] == 1 and write_back["parked_at"] is not None
    error = write_back["error"]
    assert error.startswith("crm_rejected: Property values were not valid: hs_meeting_body too long;")
    assert len(error) == crm_repo.ERROR_PREVIEW_CHARS and error.endswith("…")

    shown = CliRunner().invoke(
        cli, ["outbox", "status"], env={"SALESMEET_DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "fakecrm: deliveries: pending 0, done 2, parked 6; write-backs: pending 0, done 0, parked 1" in out
    assert "unreadable-6" in out and "unreadable-2" in out and "unreadable-1 " not in out
    assert "unreadable: when: not epoch ms or ISO 8601: 'tomorrow at ten'" in out
    assert f"deal-7 (meeting {meeting['id']})" in out
    assert "crm_rejected: Property values were not valid" in out
    assert "s3cret" not in out and "t-1" not in out
