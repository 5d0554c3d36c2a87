"""/metrics carries the database's backlog: deliveries waiting, parked, and how late the worker is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from service.api.backlog_metrics import backlog_exposition
from service.storage import crm_repo, inbox_repo
from service.storage.database import Database, create_database_engine
from service.storage.inbox_repo import Delivery
from service.storage.tables import webhook_deliveries
from tests.support import running_service


def gauges(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(("salesmeet_inbox", "salesmeet_crm", "salesmeet_backlog"))
    }


def inbox(provider: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("salesmeet_inbox_backlog", (("provider", provider), ("status", status)))


def test_an_empty_backlog_is_reported_as_zeros_for_every_enabled_provider(database_url: str) -> None:
    with running_service(database_url) as svc:
        response = svc.client.get("/metrics")

    assert response.status_code == 200
    assert gauges(response.text) == {
        ("salesmeet_backlog_readable", ()): 1.0,
        inbox("zoom", "unresolved"): 0.0,
        inbox("zoom", "pending"): 0.0,
        inbox("zoom", "parked"): 0.0,
        ("salesmeet_inbox_oldest_due_seconds", ()): 0.0,
    }


def test_waiting_and_parked_deliveries_are_counted_and_done_ones_are_not(database_url: str) -> None:
    now = datetime.now(UTC)
    with running_service(database_url) as svc:
        with svc.runtime.db.write() as conn:
            received = now - timedelta(seconds=90)
            inbox_repo.insert_deliveries(
                conn, [Delivery("zoom", f"k{n}", b"{}", {}) for n in range(5)], received
            )
            inbox_repo.insert_deliveries(
                conn, [Delivery("teams", "t1", b"{}", {}, needs_resolution=True)], now
            )
            c = webhook_deliveries.c
            conn.execute(update(webhook_deliveries).where(c.delivery_key == "k0").values(status="parked"))
            conn.execute(update(webhook_deliveries).where(c.delivery_key == "k1").values(status="done"))
            later = now + timedelta(hours=1)  # backing off: waiting, but not yet due
            conn.execute(
                update(webhook_deliveries).where(c.delivery_key == "k2").values(next_attempt_at=later)
            )
            for key in ("h1", "h2"):
                crm_repo.insert_delivery(conn, "hubspot", key, b"{}", {}, now)
        text = svc.client.get("/metrics").text

    found = gauges(text)
    assert found[inbox("zoom", "pending")] == 3
    assert found[inbox("zoom", "parked")] == 1
    assert found[inbox("zoom", "unresolved")] == 0
    assert found[inbox("teams", "unresolved")] == 1
    assert 90 <= found[("salesmeet_inbox_oldest_due_seconds", ())] < 90 + 30
    assert found[("salesmeet_crm_deliveries_backlog", (("crm", "hubspot"), ("status", "pending")))] == 2
    assert found[("salesmeet_crm_deliveries_backlog", (("crm", "hubspot"), ("status", "parked")))] == 0


def test_an_unreachable_database_still_answers_and_says_the_backlog_is_unknown() -> None:
    db = Database(create_database_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere"))
    try:
        text = backlog_exposition(db, datetime.now(UTC), ["zoom"], ["hubspot"]).decode()
    finally:
        db.dispose()

    assert gauges(text) == {("salesmeet_backlog_readable", ()): 0.0}
