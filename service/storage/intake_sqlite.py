"""Webhook intake on a SQLite file: one writer thread that owns one connection.

Why a thread of its own, and why the bare driver: under a join storm the event loop holds the GIL
nearly all the time, and a thread that releases it (every sqlite3 call does) waits up to a switch
interval (5 ms) to get it back. The earlier write went through SQLAlchemy on a pooled thread and
gave the GIL up at every row of `INSERT ... RETURNING`; the batch's flush took several times its
write. Here a batch is one driver call: one multi-row `INSERT ... ON CONFLICT DO NOTHING` in
autocommit, its own transaction (one fsync: `synchronous=FULL`, as every connection of the
service). Only a batch that also touches `provider_status` (at most once a second) takes BEGIN
IMMEDIATE, a SELECT of the keys already stored, the INSERT, the touch and COMMIT. The thread takes
one batch at a time from a C queue and wakes the loop once, with the batch's outcome.

The values are written exactly as SQLAlchemy writes them (service.storage.tables): UTC instants
as `YYYY-MM-DD HH:MM:SS.ffffff` text, headers as `json.dumps`, booleans as 0/1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from service.storage.inbox_repo import Delivery
from service.storage.intake import DeliveryKey, status_of, unique_in_key_order

_COLUMNS = (
    "provider, delivery_key, received_at, body, headers, status, needs_resolution, attempts, next_attempt_at"
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, 0, ?)"
# Distinct multi-row statements (one per batch size) stay prepared.
_STATEMENT_CACHE = 2048
_SENTINEL = None


def sqlite_instant(moment: datetime) -> str:
    """An aware instant as SQLAlchemy's SQLite DATETIME stores it (naive UTC, microseconds)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=30, isolation_level=None, check_same_thread=False, cached_statements=_STATEMENT_CACHE
    )
    # The same settings as every connection of the service (service.storage.database).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # the commit is on disk before the 2xx
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class SqliteIntake:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite-intake", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, path: str) -> SqliteIntake:
        return cls(_connect(path))

    async def write(
        self, deliveries: Sequence[Delivery], now: datetime, touch: Sequence[str]
    ) -> set[DeliveryKey]:
        rows = unique_in_key_order(deliveries)
        stamp = sqlite_instant(now)
        # Everything that needs no database is done here, so the writer thread holds the GIL
        # for as little as possible.
        params: list[Any] = []
        for d in rows:
            params += (
                d.provider,
                d.delivery_key,
                stamp,
                d.body,
                json.dumps(d.headers),
                status_of(d),
                int(d.needs_resolution),
                stamp,
            )
        by_provider: dict[str, list[str]] = {}
        for d in rows:
            by_provider.setdefault(d.provider, []).append(d.delivery_key)
        written: set[tuple[str, str]] = await self._run(
            lambda conn: _write(conn, rows, params, by_provider, stamp, touch)
        )
        return written

    async def close(self) -> None:
        if self._thread.is_alive():
            await self._run(lambda conn: conn.close())
            self._jobs.put(_SENTINEL)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    async def _run(self, job: Callable[[sqlite3.Connection], Any]) -> Any:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((job, loop, done))
        return await done

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not _SENTINEL:
            job, loop, done = item
            try:
                result, error = job(self._conn), None
            except BaseException as exc:  # handed to the awaiting caller, whatever it is
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, done, result, error)


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _write(
    conn: sqlite3.Connection,
    rows: Sequence[Delivery],
    params: Sequence[Any],
    by_provider: dict[str, list[str]],
    stamp: str,
    touch: Sequence[str],
) -> set[DeliveryKey]:
    if not rows and not touch:
        return set()
    if not touch:
        return _insert_alone(conn, rows, params, by_provider, stamp)
    conn.execute("BEGIN IMMEDIATE")  # the write lock now: what SELECT sees stays true until COMMIT
    try:
        stored = _stored_keys(conn, by_provider)
        if stored:
            rows, params = _without(rows, params, stored)
        if rows:
            conn.execute(_insert_statement(len(rows)), params)
        for provider in sorted(set(touch)):
            conn.execute(
                "INSERT INTO provider_status (provider, last_webhook_at) VALUES (?, ?) "
                "ON CONFLICT (provider) DO UPDATE SET last_webhook_at = excluded.last_webhook_at",
                (provider, stamp),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return {(d.provider, d.delivery_key) for d in rows}


def _insert_alone(
    conn: sqlite3.Connection,
    rows: Sequence[Delivery],
    params: Sequence[Any],
    by_provider: dict[str, list[str]],
    stamp: str,
) -> set[DeliveryKey]:
    """The batch as one statement in autocommit: its own transaction, committed (fsync'd) when the
    call returns, and the GIL given up and taken back once, not at each of BEGIN, SELECT, INSERT
    and COMMIT (each take-back can wait a switch interval while the loop is busy). SQLite takes the
    write lock at the statement's start, waiting on the busy timeout as BEGIN IMMEDIATE does.

    When every row was inserted (the usual batch), every key was new. Otherwise the batch held a
    key already stored: the new ones are found by this batch's `received_at`. That only decides
    which answers count as duplicates (a metric); every delivery of the batch is stored either way.
    """
    inserted = conn.execute(_insert_statement(len(rows), ignoring_stored=True), params).rowcount
    if inserted == len(rows):
        return {(d.provider, d.delivery_key) for d in rows}
    return _stored_keys(conn, by_provider, received_at=stamp)


def _insert_statement(count: int, *, ignoring_stored: bool = False) -> str:
    statement = f"INSERT INTO webhook_deliveries ({_COLUMNS}) VALUES {', '.join([_ROW] * count)}"  # noqa: S608
    if ignoring_stored:
        statement += " ON CONFLICT (provider, delivery_key) DO NOTHING"
    return statement


def _stored_keys(
    conn: sqlite3.Connection, by_provider: dict[str, list[str]], *, received_at: str | None = None
) -> set[DeliveryKey]:
    """Which of the keys are stored (received at `received_at`, when given)."""
    stored: set[DeliveryKey] = set()
    for provider, keys in by_provider.items():
        marks = ", ".join("?" * len(keys))
        # Only "?" placeholders are formatted in; the values are bound.
        query = (
            f"SELECT delivery_key FROM webhook_deliveries WHERE provider = ? AND delivery_key IN ({marks})"  # noqa: S608
        )
        bound: tuple[str, ...] = (provider, *keys)
        if received_at is not None:
            query += " AND received_at = ?"
            bound += (received_at,)
        stored.update((provider, key) for (key,) in conn.execute(query, bound).fetchall())
    return stored


def _without(
    rows: Sequence[Delivery], params: Sequence[Any], stored: set[DeliveryKey]
) -> tuple[list[Delivery], list[Any]]:
    width = len(params) // len(rows)
    kept_rows: list[Delivery] = []
    kept_params: list[Any] = []
    for index, d in enumerate(rows):
        if (d.provider, d.delivery_key) not in stored:
            kept_rows.append(d)
            kept_params += params[index * width : (index + 1) * width]
    return kept_rows, kept_params
