"""Durable intake for verified webhook deliveries, with group commit.

A receiver awaits `InboxWriter.store()` and answers 2xx only after it returns: by then the delivery
is committed. Concurrent deliveries share one transaction (group commit), so a join storm costs one
fsync per batch instead of one per request. One batch is written at a time, by the database's
`IntakeStore` (service/storage/intake.py); the deliveries that arrive meanwhile form the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from service.storage.database import Database
from service.storage.inbox_repo import Delivery
from service.storage.intake import IntakeStore, open_intake

log = structlog.get_logger("salesmeet.inbox")

# provider_status.last_webhook_at is written at most this often per provider (and process).
TOUCH_INTERVAL = timedelta(seconds=1)


class _Pending:
    __slots__ = ("delivery", "done")

    def __init__(self, delivery: Delivery, done: asyncio.Future[bool]) -> None:
        self.delivery = delivery
        self.done = done


class InboxWriter:
    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 512,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._intake: IntakeStore | None = None
        self._last_touched: dict[str, datetime] = {}  # provider -> `now` of its last committed touch
        self._stopping = False

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False  # a writer stopped once may be started again (a new lifespan)
            self._intake = await open_intake(self._db)
            self._wakeup = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="inbox-writer")

    async def stop(self) -> None:
        """Drain: whatever was accepted is written before shutdown completes."""
        task = self._task
        if task is None or self._wakeup is None:
            return
        self._stopping = True
        self._wakeup.set()
        await task
        self._task = None
        if self._intake is not None:
            await self._intake.close()
            self._intake = None

    async def store(self, delivery: Delivery) -> bool:
        """Persist the delivery; True when new, False when it was a duplicate."""
        if self._task is None or self._wakeup is None or self._stopping:
            raise RuntimeError("inbox writer is not running")
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(delivery, done))
        self._wakeup.set()
        return await done

    def _take_batch(self) -> list[_Pending]:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._flush(self._take_batch())
            if self._stopping:
                return

    async def _flush(self, batch: list[_Pending]) -> None:
        assert self._intake is not None
        now = self._clock()
        deliveries = [p.delivery for p in batch]
        to_touch = self._providers_to_touch(deliveries, now)
        try:
            new_keys = await self._intake.write(deliveries, now, to_touch)
        except Exception as exc:  # the callers answer 5xx, so the provider retries: nothing is lost
            log.error("inbox.write_failed", error=type(exc).__name__, batch=len(batch))
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        # Only a committed touch counts: after a failed batch the next one touches again.
        for provider in to_touch:
            self._last_touched[provider] = now
        # A key that was new is new for its first sender only; the identical copies that shared
        # its batch are duplicates, as they would have been one batch later.
        answered: set[tuple[str, str]] = set()
        for p in batch:
            key = (p.delivery.provider, p.delivery.delivery_key)
            is_new = key in new_keys and key not in answered
            answered.add(key)
            if not p.done.done():
                p.done.set_result(is_new)

    def _providers_to_touch(self, deliveries: list[Delivery], now: datetime) -> list[str]:
        """The providers whose last-webhook time is a second or more out of date (or unknown).

        `provider_status.last_webhook_at` is for people (admin API); rewriting it in every batch
        costs an upsert per transaction at thousands of deliveries a second.
        """
        providers = {d.provider for d in deliveries}
        return sorted(
            p
            for p in providers
            if (last := self._last_touched.get(p)) is None or not last <= now < last + TOUCH_INTERVAL
        )
