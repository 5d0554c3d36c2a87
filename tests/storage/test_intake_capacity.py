"""Webhook intake has database capacity of its own: API reads holding every pooled connection never
hold back the 2xx of a delivery."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import func, select, text

from service.storage.database import Database, create_database_engine, upgrade_database
from service.storage.inbox_repo import Delivery
from service.storage.tables import webhook_deliveries
from webhooks.inbox import InboxWriter


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    # A pool of one (plus one overflow) that gives up after a second: easy to exhaust, quick to fail.
    engine = create_database_engine(database_url, pool_size=1, pool_timeout=1)
    upgrade_database(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        database.dispose()


async def test_a_delivery_is_stored_while_api_reads_hold_every_pooled_connection(db: Database) -> None:
    writer = InboxWriter(db)
    await writer.start()
    try:
        with ExitStack() as held:
            for _ in range(2):  # pool_size + max_overflow
                held.enter_context(db.read()).execute(text("SELECT 1"))
            assert await writer.store(Delivery("zoom", "sha256:storm-1", b"{}", {})) is True
    finally:
        await writer.stop()

    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar_one() == 1
