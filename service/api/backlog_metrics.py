"""The database's backlog as Prometheus gauges, read at each /metrics scrape.

Every replica reports the same figures (they live in the shared database), so alert on `max`
across replicas, not `sum`. A series exists for every enabled provider and CRM and each waiting
state, zero included, so an alert never misses a series that has not appeared yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.storage import backlog_repo
from service.storage.backlog_repo import Backlog
from service.storage.database import Database

log = structlog.get_logger("salesmeet.metrics")


def backlog_exposition(db: Database, now: datetime, providers: Iterable[str], crms: Iterable[str]) -> bytes:
    """The backlog gauges in Prometheus' text format; `salesmeet_backlog_readable 0` alone when the
    database cannot be read (the process metrics are still worth scraping then)."""
    try:
        with db.read() as conn:
            backlog: Backlog | None = backlog_repo.read_backlog(conn, now)
    except Exception as exc:  # a scrape must answer; readiness reports the database itself
        log.warning("metrics.backlog_unreadable", error=type(exc).__name__)
        backlog = None
    registry = CollectorRegistry()
    registry.register(_Families(list(_families(backlog, sorted(providers), sorted(crms)))))
    return generate_latest(registry)


def _families(backlog: Backlog | None, providers: list[str], crms: list[str]) -> Iterator[Metric]:
    readable = GaugeMetricFamily(
        "salesmeet_backlog_readable", "1 when the backlog gauges below could be read from the database"
    )
    readable.add_metric([], 1.0 if backlog is not None else 0.0)
    yield readable
    if backlog is None:
        return
    inbox = GaugeMetricFamily(
        "salesmeet_inbox_backlog",
        "Webhook deliveries not yet applied, by provider and status (unresolved, pending, parked)",
        labels=["provider", "status"],
    )
    for provider in sorted({*providers, *(p for p, _ in backlog.inbox)}):
        for status in backlog_repo.INBOX_WAITING:
            inbox.add_metric([provider, status], backlog.inbox.get((provider, status), 0))
    yield inbox
    oldest = GaugeMetricFamily(
        "salesmeet_inbox_oldest_due_seconds",
        "How long the longest-due unresolved or pending webhook delivery has waited for a worker",
    )
    oldest.add_metric([], backlog.inbox_oldest_due_seconds)
    yield oldest
    for name, what, label, counts in (
        (
            "salesmeet_crm_deliveries_backlog",
            "CRM deliveries not yet applied",
            "status",
            backlog.crm_deliveries,
        ),
        ("salesmeet_crm_outbox_backlog", "CRM write-backs not yet written", "state", backlog.crm_outbox),
    ):
        family = GaugeMetricFamily(
            name, f"{what}, by CRM and {label} (pending, parked)", labels=["crm", label]
        )
        for crm in sorted({*crms, *(k for k, _ in counts)}):
            for state in backlog_repo.CRM_WAITING:
                family.add_metric([crm, state], counts.get((crm, state), 0))
        yield family


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
