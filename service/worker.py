"""Background work: the webhook inbox (resolve, then apply), attendance refresh, and periodic jobs
(reconciliation, subscription renewal), each periodic job under its own lease: once across replicas."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import structlog

from integrations.base import SubscriptionManager
from integrations.plugin import EventDecoder, NotificationResolver
from service.domain.meeting import ProviderName
from service.storage import leases, meetings_repo
from service.storage.database import Database
from service.usecases.keep_subscriptions import keep_subscriptions
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.reconcile_meeting import reconcile_due_meetings
from service.usecases.record_attendance import AttendancePolicy, process_inbox_batch, refresh_dirty_meetings
from service.usecases.resolve_deliveries import resolve_inbox_batch

log = structlog.get_logger("salesmeet.worker")

RECONCILE_JOB = "reconcile"
# Meetings reconciled between two renewals of the sweep's lease.
RECONCILE_BATCH = 20
SUBSCRIPTIONS_JOB = "subscriptions"
# A meeting whose end was never announced is reconciled this long after its planned end.
UNANNOUNCED_END_GRACE = timedelta(hours=1)


class Worker:
    def __init__(
        self,
        db: Database,
        providers: ProviderRegistry,
        decoders: Mapping[str, EventDecoder],
        policy: AttendancePolicy,
        *,
        jobs: Sequence[Callable[[], int]] = (),
        resolvers: Mapping[str, NotificationResolver] | None = None,
        subscriptions: Mapping[ProviderName, SubscriptionManager] | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        reconcile_interval: float = 300.0,
        subscription_interval: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._providers = providers
        self._decoders = decoders
        self._resolvers = dict(resolvers or {})
        # More work drained every round, each returning how much it handled (CRM deliveries, outbox).
        self._jobs = tuple(jobs)
        self._subscriptions = dict(subscriptions or {})
        self._policy = policy
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._reconcile_interval = timedelta(seconds=reconcile_interval)
        self._clock = clock
        self._owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._subscription_interval = timedelta(seconds=subscription_interval)
        self._next_reconcile = datetime.min.replace(tzinfo=UTC)
        self._next_subscriptions = datetime.min.replace(tzinfo=UTC)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self) -> int:
        """Process everything due now (resolve, apply, then attendance); returns the deliveries handled."""
        handled = 0
        if self._resolvers:
            while (
                n := resolve_inbox_batch(
                    self._db, self._resolvers, self._policy, self._clock(), self._batch_size
                )
            ) > 0:
                handled += n
                if n < self._batch_size:
                    break
        while True:
            n = process_inbox_batch(self._db, self._decoders, self._policy, self._clock(), self._batch_size)
            handled += n
            # Records follow the inbox batch by batch, so a long join storm does not leave them stale.
            refresh_dirty_meetings(self._db, self._policy, self._clock())
            if n < self._batch_size:
                break
        while refresh_dirty_meetings(self._db, self._policy, self._clock()) > 0:
            pass
        for job in self._jobs:
            while (n := job()) > 0:
                handled += n
                if n < self._batch_size:
                    break
        return handled

    def run_periodic(self, *, force: bool = False) -> None:
        self._renew_subscriptions(force=force)
        self._reconcile(force=force)

    def _renew_subscriptions(self, *, force: bool) -> None:
        now = self._clock()
        if not self._subscriptions or (not force and now < self._next_subscriptions):
            return
        self._next_subscriptions = now + self._subscription_interval
        with self._db.write() as conn:
            if not leases.try_acquire(
                conn, SUBSCRIPTIONS_JOB, self._owner, now, self._subscription_interval * 2
            ):
                return
        self._log_run(SUBSCRIPTIONS_JOB, now)
        keep_subscriptions(self._db, self._subscriptions, now)

    def _reconcile(self, *, force: bool) -> None:
        now = self._clock()
        if not force and now < self._next_reconcile:
            return
        self._next_reconcile = now + self._reconcile_interval
        with self._db.write() as conn:
            if not leases.try_acquire(conn, RECONCILE_JOB, self._owner, now, self._reconcile_interval * 2):
                return
            meetings_repo.schedule_reconciliation_for_unannounced_ends(
                conn, ended_before=now - UNANNOUNCED_END_GRACE, now=now
            )
        self._log_run(RECONCILE_JOB, now)
        self._reconcile_all_due(now)

    def _reconcile_all_due(self, now: datetime) -> None:
        """Every meeting due at `now`, batch after batch, while this worker still holds the lease.

        One batch per period would fall behind a large org. A failed meeting is retried later than
        `now`, so each batch takes new meetings; a batch that brings back one already done this
        sweep ends it rather than spin. The lease is renewed between batches so a long sweep never
        runs twice; a sweep that lost it, or spent a period, stops (the rest waits for the next).
        """
        deadline = time.monotonic() + self._reconcile_interval.total_seconds()
        done: set[str] = set()
        while True:
            batch = reconcile_due_meetings(self._db, self._providers, self._policy, now, RECONCILE_BATCH)
            if len(batch) < RECONCILE_BATCH or done.intersection(batch):
                return
            done.update(batch)
            if time.monotonic() > deadline:
                log.warning("worker.reconcile_sweep_cut", reconciled=len(done))
                return
            with self._db.write() as conn:
                ttl = self._reconcile_interval * 2
                if not leases.try_acquire(conn, RECONCILE_JOB, self._owner, self._clock(), ttl):
                    return

    def _log_run(self, job: str, now: datetime) -> None:
        # The proof, across replicas, that a periodic job ran once per period and where.
        log.info("worker.periodic_job", job=job, owner=self._owner, at=now.isoformat())

    def run_once(self) -> int:
        handled = self.drain()
        self.run_periodic()
        return handled

    def run_forever(self) -> None:
        log.info("worker.started", owner=self._owner)
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception as exc:  # keep the worker alive; the failed unit is retried next round
                log.error("worker.round_failed", error=repr(exc), exc_info=exc)
                handled = 0
            if handled == 0:
                self._stop.wait(self._poll_interval)
        log.info("worker.stopped", owner=self._owner)

    def start_in_thread(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="salesmeet-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
