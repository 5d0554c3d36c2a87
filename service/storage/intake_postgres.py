"""Webhook intake on PostgreSQL: psycopg's async API, on the event loop, one statement per batch.

No thread hand-off: the loop sends the batch and goes on serving requests until the answer is
in. The connection is intake's own (API reads holding every pooled connection never hold back a
delivery's 2xx) and runs in autocommit, so the batch's single INSERT is its own transaction: when
the statement returns, it committed (and, with the server's default `synchronous_commit`, its WAL
is flushed). The rows come as parallel arrays (`unnest`), so the statement's text never changes
and psycopg prepares it once. Every parameter is bound in binary (`%b`): an array of text in text
format is quoted and escaped element by element in Python (a regex substitution per JSON quote),
which cost the loop more than the rest of the request (bench/README.md). A batch that also
touches `provider_status` (at most once a second) runs both statements in one transaction.

A connection that failed is dropped; the next batch opens a new one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import psycopg
from sqlalchemy.engine import URL

from service.storage.inbox_repo import Delivery
from service.storage.intake import DeliveryKey, status_of, unique_in_key_order

_INSERT = """
INSERT INTO webhook_deliveries (
    provider, delivery_key, received_at, body, headers, status, needs_resolution, attempts, next_attempt_at
)
SELECT d.provider, d.delivery_key, %(now)b, d.body, d.headers::json, d.status, d.needs_resolution, 0, %(now)b
FROM unnest(%(provider)b::text[], %(delivery_key)b::text[], %(body)b::bytea[], %(headers)b::text[],
            %(status)b::text[], %(needs_resolution)b::boolean[])
     AS d(provider, delivery_key, body, headers, status, needs_resolution)
ON CONFLICT (provider, delivery_key) DO NOTHING
RETURNING provider, delivery_key
"""

_TOUCH = """
INSERT INTO provider_status (provider, last_webhook_at) VALUES (%s, %s)
ON CONFLICT (provider) DO UPDATE SET last_webhook_at = excluded.last_webhook_at
"""


def conninfo_of(url: URL) -> str:
    """libpq connection parameters of a SQLAlchemy URL (its query, e.g. `options`, included)."""
    params: dict[str, str] = {}
    for name, value in url.query.items():
        params[name] = value if isinstance(value, str) else value[-1]
    connection: tuple[tuple[str, str | int | None], ...] = (
        ("host", url.host),
        ("port", url.port),
        ("dbname", url.database),
        ("user", url.username),
        ("password", url.password),
    )
    for key, part in connection:
        if part is not None:
            params[key] = str(part)
    return psycopg.conninfo.make_conninfo("", **params)


class PostgresIntake:
    def __init__(self, url: URL) -> None:
        self._conninfo = conninfo_of(url)
        self._conn: psycopg.AsyncConnection[tuple[str, str]] | None = None

    async def write(
        self, deliveries: Sequence[Delivery], now: datetime, touch: Sequence[str]
    ) -> set[DeliveryKey]:
        rows = unique_in_key_order(deliveries)  # key order: overlapping replicas queue, never deadlock
        conn = await self._connection()
        try:
            if not touch:
                return await _insert(conn, rows, now)
            async with conn.transaction():
                new_keys = await _insert(conn, rows, now)
                for provider in sorted(set(touch)):
                    await conn.execute(_TOUCH, (provider, now))
            return new_keys
        except BaseException:
            await self._drop()
            raise

    async def close(self) -> None:
        await self._drop()

    async def _connection(self) -> psycopg.AsyncConnection[tuple[str, str]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()


async def _insert(
    conn: psycopg.AsyncConnection[tuple[str, str]], rows: Sequence[Delivery], now: datetime
) -> set[DeliveryKey]:
    if not rows:
        return set()
    cursor = await conn.execute(
        _INSERT,
        {
            "now": now,
            "provider": [d.provider for d in rows],
            "delivery_key": [d.delivery_key for d in rows],
            "body": [d.body for d in rows],
            "headers": [json.dumps(d.headers) for d in rows],
            "status": [status_of(d) for d in rows],
            "needs_resolution": [d.needs_resolution for d in rows],
        },
        binary=True,
    )
    return {(provider, key) for provider, key in await cursor.fetchall()}
